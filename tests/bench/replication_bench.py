"""Replication benchmark: seeding a replica with mariadb-dump, and semi-sync's cost on uploads.

    python tests/bench/replication_bench.py [--posts 10000] [--round-seconds 5] [--rounds 3] [--photo-kib 30]

Starts a private primary (binary log, GTID, durable: innodb_flush_log_at_trx_commit=1 and
sync_binlog=1) and a private read-only replica, both real MariaDB servers on loopback. Fills the
primary with posts with photos, seeds the replica exactly as extagram-replica-seed does
(mariadb-dump --single-transaction --master-data=1 --gtid ... | mariadb) while an uploader keeps
publishing, then starts GTID replication. Then the upload rate (store.publish_post, the upload's
own transaction) with asynchronous and with semi-synchronous replication, interleaved round by
round, with 1 and 4 concurrent writers. Everything is torn down at the end. A script, not a
test: it prints figures and never asserts timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from extagram import photos, store
from extagram.config import Config
from extagram_testing import mariadb_server
from extagram_testing.mariadb_server import Account, MariaDBServer

# MariaDBServer runs InnoDB without flushing at commit (a test server); later options win, so
# the primary gets a production primary's durability back: a commit is on disk, binlog included.
DURABLE_OPTIONS = ("--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1")
PRIMARY_OPTIONS = ("--log-bin=bin", "--server-id=17", "--binlog-format=ROW", *DURABLE_OPTIONS)
REPLICA_OPTIONS = ("--server-id=12", "--read-only=1", "--replicate-wild-do-table=extagram.%")
REPLICATION_USER = "repl"
SEED_BATCH = 500  # posts (and photos) per transaction while filling the primary
WRITER_COUNTS = (1, 4)
SEMI_SYNC_TIMEOUT_MS = 10000
BASELINE_SECONDS = 2.0  # the seed's uploader runs this long before the dump starts
WARM_UP_SECONDS = 1.0  # unmeasured uploads before the first round of each writer count
CATCH_UP_SECONDS = 300
SWITCH_SECONDS = 20
MODES = ("async", "semi-sync")


def query(server: MariaDBServer, sql: str, params: Any = ()) -> list[tuple]:
    with server.root_connection() as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def global_status(server: MariaDBServer, *names: str) -> dict[str, str]:
    placeholders = ", ".join(["%s"] * len(names))
    rows = query(server, f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})", names)
    return dict(rows)


def replica_status(replica: MariaDBServer) -> dict | None:
    with replica.root_connection() as connection:
        return store.replication_status(connection)


def upload_connection(server: MariaDBServer, account: Account) -> pymysql.connections.Connection:
    """As the upload app connects: TCP, utf8mb4, no autocommit (publish_post commits)."""
    return pymysql.connect(
        host=server.host,
        port=server.port,
        user=account.user,
        password=account.password,
        database=mariadb_server.DB_NAME,
        charset="utf8mb4",
        connect_timeout=5,
        read_timeout=60,
        write_timeout=60,
        autocommit=False,
        ssl_disabled=True,
    )


def fill(primary: MariaDBServer, posts: int, photo_bytes: int) -> float:
    """`posts` posts, each with its own random photo, in transactions of SEED_BATCH; seconds."""
    started = time.monotonic()
    with primary.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        done = 0
        while done < posts:
            count = min(SEED_BATCH, posts - done)
            names = [photos.new_photo_name("jpg") for _ in range(count)]
            connection.begin()
            cursor.executemany(
                # Placeholders only, so that PyMySQL sends multi-row INSERTs (~1 MB each).
                "INSERT INTO photos (name, mime_type, data) VALUES (%s, %s, %s)",
                [(name, "image/jpeg", os.urandom(photo_bytes)) for name in names],
            )
            cursor.executemany(
                "INSERT INTO posts (post, photourl) VALUES (%s, %s)",
                [(f"Seeded post number {done + number + 1}", name) for number, name in enumerate(names)],
            )
            connection.commit()
            done += count
    return time.monotonic() - started


class Uploader(threading.Thread):
    """publish_post in a loop on its own connection until `stop` is set."""

    def __init__(
        self,
        connection: pymysql.connections.Connection,
        photo: bytes,
        stop: threading.Event,
        barrier: threading.Barrier | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.connection = connection
        self.photo = photo
        self.stop = stop
        self.barrier = barrier
        # (perf_counter when the upload started, seconds it took), one per committed upload
        self.uploads: list[tuple[float, float]] = []
        self.finished_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        stored = store.Photo("image/jpeg", self.photo)
        storage_cap = Config().max_photo_storage_bytes  # the deployed default, never reached here
        try:
            if self.barrier is not None:
                self.barrier.wait()
            while not self.stop.is_set():
                started = time.perf_counter()
                name = photos.new_photo_name("jpg")
                store.publish_post(self.connection, "benchmark upload", name, stored, storage_cap)
                self.finished_at = time.perf_counter()
                self.uploads.append((started, self.finished_at - started))
        except BaseException as error:  # reported by the main thread
            self.error = error
        finally:
            self.connection.close()


def join_uploaders(uploaders: list[Uploader]) -> None:
    for uploader in uploaders:
        uploader.join(timeout=120)
        if uploader.error is not None:
            raise RuntimeError(f"an uploader failed: {uploader.error!r}") from uploader.error


@dataclass
class Seed:
    posts: int  # in the copy the replica loaded
    data_mib: float  # SUM(LENGTH(data)) of the copy's photos
    fill_seconds: float
    dump_seconds: float  # the dump process, start to exit
    seed_seconds: float  # dump | load, start to both exited
    cpu: dict[str, float]  # CPU seconds per process during dump | load
    catch_up_seconds: float  # START SLAVE until the replica has applied what the primary logged
    gtid: str  # gtid_slave_pos the dump recorded
    flushes: int  # FLUSH statements the dump issued on the primary (FTWRL when > 0)
    baseline: list[float]  # upload latencies before the dump
    during: list[float]  # latencies of uploads overlapping the dump
    completed_during: int  # uploads completed while the dump ran
    replica_counts: tuple[int, int]  # posts, photos on the replica once caught up
    primary_counts: tuple[int, int]


def mib(value: float) -> float:
    return value / (1024 * 1024)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, from /proc (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(server: MariaDBServer) -> float:
    process = server._process  # setpriv execs mariadbd: this is mariadbd's pid
    return process_cpu_seconds(process.pid) if process is not None else 0.0


def wait_with_cpu(process: subprocess.Popen) -> tuple[int, float]:
    """Reap `process` ourselves, for its CPU time: (exit code, user + system seconds)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


@dataclass
class Pipeline:
    dump_seconds: float  # the dump process, start to exit
    seconds: float  # dump | load, start to both exited
    cpu: dict[str, float]  # CPU seconds per process over the pipeline


def dump_and_load(primary: MariaDBServer, replica: MariaDBServer, account: Account) -> Pipeline:
    """The seed pipeline of extagram-replica-seed, two processes joined by a pipe."""
    dump_command = [
        "mariadb-dump",
        "--no-defaults",
        f"-h{primary.host}",
        f"-P{primary.port}",
        f"-u{account.user}",
        f"-p{account.password}",
        "--single-transaction",
        "--master-data=1",
        "--gtid",
        "--hex-blob",
        "--quick",
        "--databases",
        mariadb_server.DB_NAME,
    ]
    load_command = ["mariadb", "--no-defaults", f"--socket={replica.socket_path}", "-uroot"]
    servers_before = server_cpu_seconds(primary), server_cpu_seconds(replica)
    with tempfile.TemporaryFile() as dump_errors, tempfile.TemporaryFile() as load_errors:
        started = time.perf_counter()
        dump = subprocess.Popen(dump_command, stdout=subprocess.PIPE, stderr=dump_errors)
        load = subprocess.Popen(load_command, stdin=dump.stdout, stderr=load_errors)
        dump.stdout.close()  # the load process holds the pipe now
        dump_code, dump_cpu = wait_with_cpu(dump)
        dumped = time.perf_counter()
        load_code, load_cpu = wait_with_cpu(load)
        loaded = time.perf_counter()
        for name, code, errors in (
            ("mariadb-dump", dump_code, dump_errors),
            ("mariadb", load_code, load_errors),
        ):
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()
            if code != 0:
                raise RuntimeError(f"{name} exited {code}: {text}")
            if text:
                print(f"  {name} said: {text}", flush=True)
    primary_cpu = server_cpu_seconds(primary) - servers_before[0]
    replica_cpu = server_cpu_seconds(replica) - servers_before[1]
    cpu = {
        "mariadb-dump": dump_cpu,
        "mariadb (load)": load_cpu,
        "primary mariadbd": primary_cpu,
        "replica mariadbd": replica_cpu,
    }
    return Pipeline(dumped - started, loaded - started, cpu)


def start_replication(primary: MariaDBServer, replica: MariaDBServer, account: Account) -> None:
    query(
        replica,
        "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s,"
        " MASTER_USE_GTID = slave_pos",
        (primary.host, primary.port, account.user, account.password),
    )
    query(replica, "START SLAVE")


def wait_until_caught_up(primary: MariaDBServer, replica: MariaDBServer) -> float:
    """Seconds until the replica has applied everything the primary had logged when asked."""
    started = time.perf_counter()
    [(position,)] = query(primary, "SELECT @@gtid_binlog_pos")
    [(result,)] = query(replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, CATCH_UP_SECONDS))
    if result != 0:
        raise RuntimeError(f"the replica did not reach {position}: {replica_status(replica)}")
    return time.perf_counter() - started


def counts(server: MariaDBServer) -> tuple[int, int]:
    [(posts, photo_rows)] = query(
        server, "SELECT (SELECT COUNT(*) FROM extagram.posts), (SELECT COUNT(*) FROM extagram.photos)"
    )
    return posts, photo_rows


def seed_replica(primary, replica, accounts, replication: Account, args) -> Seed:
    """Fill the primary, then copy it to the replica while an uploader keeps publishing."""
    photo_bytes = args.photo_kib * 1024
    print(f"filling the primary with {args.posts:,} posts with {args.photo_kib} KiB photos", flush=True)
    fill_seconds = fill(primary, args.posts, photo_bytes)
    print(f"  filled in {fill_seconds:.1f} s; seeding the replica", flush=True)
    stop = threading.Event()
    uploader = Uploader(upload_connection(primary, accounts["upload"]), os.urandom(photo_bytes), stop)
    uploader.start()
    time.sleep(BASELINE_SECONDS)
    [(_, flushes_before)] = query(primary, "SHOW GLOBAL STATUS LIKE 'Com_flush'")
    dump_started = time.perf_counter()
    pipeline = dump_and_load(primary, replica, replication)
    dump_ended = dump_started + pipeline.dump_seconds
    stop.set()
    join_uploaders([uploader])
    [(_, flushes_after)] = query(primary, "SHOW GLOBAL STATUS LIKE 'Com_flush'")
    [(posts, data, gtid)] = query(
        replica,
        "SELECT (SELECT COUNT(*) FROM extagram.posts), (SELECT SUM(LENGTH(data)) FROM extagram.photos),"
        " @@gtid_slave_pos",
    )
    start_replication(primary, replica, replication)
    catch_up_seconds = wait_until_caught_up(primary, replica)
    return Seed(
        posts=posts,
        data_mib=mib(float(data or 0)),
        fill_seconds=fill_seconds,
        dump_seconds=pipeline.dump_seconds,
        seed_seconds=pipeline.seconds,
        cpu=pipeline.cpu,
        catch_up_seconds=catch_up_seconds,
        gtid=gtid,
        flushes=int(flushes_after) - int(flushes_before),
        baseline=[took for began, took in uploader.uploads if began + took < dump_started],
        during=[
            took for began, took in uploader.uploads if began < dump_ended and began + took > dump_started
        ],
        completed_during=sum(dump_started <= began + took <= dump_ended for began, took in uploader.uploads),
        replica_counts=counts(replica),
        primary_counts=counts(primary),
    )


SEMI_SYNC_STATUS = (
    "Rpl_semi_sync_master_status",
    "Rpl_semi_sync_master_clients",
    "Rpl_semi_sync_master_yes_tx",
    "Rpl_semi_sync_master_no_tx",
)


def set_mode(primary: MariaDBServer, replica: MariaDBServer, mode: str) -> dict[str, str]:
    """Semi-sync on both ends (or off on both), the replica's IO thread reconnected; the status."""
    value = "ON" if mode == "semi-sync" else "OFF"
    query(primary, f"SET GLOBAL rpl_semi_sync_master_enabled = {value}")
    query(replica, f"SET GLOBAL rpl_semi_sync_slave_enabled = {value}")
    # The IO thread asks for semi-sync when it connects only.
    query(replica, "STOP SLAVE IO_THREAD")
    query(replica, "START SLAVE IO_THREAD")
    wanted = {
        "Rpl_semi_sync_master_status": value,
        "Rpl_semi_sync_master_clients": "1" if value == "ON" else "0",
    }
    deadline = time.monotonic() + SWITCH_SECONDS
    while True:
        status = global_status(primary, *SEMI_SYNC_STATUS)
        io_running = (replica_status(replica) or {}).get("Slave_IO_Running")
        if io_running == "Yes" and all(status.get(name) == want for name, want in wanted.items()):
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{mode} did not take effect: primary {status}, replica IO thread {io_running}"
            )
        time.sleep(0.05)


@dataclass
class Round:
    mode: str
    writers: int
    number: int
    uploads: int
    seconds: float
    latencies: list[float]
    yes_tx: int  # transactions the replica acknowledged during the round
    no_tx: int  # transactions committed without waiting for an acknowledgement
    status_after: str  # Rpl_semi_sync_master_status at the end of the round
    caught_up_seconds: float  # after the round, until the replica had applied it all

    @property
    def rate(self) -> float:
        return self.uploads / self.seconds


def run_uploaders(primary, account: Account, writers: int, seconds: float, photo_bytes: int) -> tuple:
    """`writers` uploaders for `seconds`: (uploads, seconds from start to the last commit, latencies)."""
    stop = threading.Event()
    barrier = threading.Barrier(writers + 1)
    uploaders = [
        Uploader(upload_connection(primary, account), os.urandom(photo_bytes), stop, barrier)
        for _ in range(writers)
    ]
    for uploader in uploaders:
        uploader.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    join_uploaders(uploaders)
    latencies = [took for uploader in uploaders for _, took in uploader.uploads]
    ended = max((uploader.finished_at for uploader in uploaders), default=started)
    return len(latencies), max(ended - started, 1e-9), latencies


def measure_round(primary, replica, account: Account, *, mode: str, writers: int, number: int, args) -> Round:
    before = global_status(primary, *SEMI_SYNC_STATUS)
    uploads, seconds, latencies = run_uploaders(
        primary, account, writers, args.round_seconds, args.photo_kib * 1024
    )
    after = global_status(primary, *SEMI_SYNC_STATUS)

    def grew(name: str) -> int:
        return int(after[name]) - int(before[name])

    return Round(
        mode=mode,
        writers=writers,
        number=number,
        uploads=uploads,
        seconds=seconds,
        latencies=latencies,
        yes_tx=grew("Rpl_semi_sync_master_yes_tx"),
        no_tx=grew("Rpl_semi_sync_master_no_tx"),
        status_after=after["Rpl_semi_sync_master_status"],
        caught_up_seconds=wait_until_caught_up(primary, replica),
    )


def measure_uploads(primary, replica, accounts, args) -> list[Round]:
    """Async and semi-sync rounds, interleaved (A, B, A, B ...), at each writer count."""
    account = accounts["upload"]
    query(primary, f"SET GLOBAL rpl_semi_sync_master_timeout = {SEMI_SYNC_TIMEOUT_MS}")
    rounds = []
    current = None
    for writers in WRITER_COUNTS:
        for number in range(1, args.rounds + 1):
            for mode in MODES:
                if mode != current:
                    set_mode(primary, replica, mode)
                    current = mode
                if number == 1 and mode == MODES[0]:
                    run_uploaders(primary, account, writers, WARM_UP_SECONDS, args.photo_kib * 1024)
                    wait_until_caught_up(primary, replica)
                result = measure_round(
                    primary, replica, account, mode=mode, writers=writers, number=number, args=args
                )
                rounds.append(result)
                print(
                    f"  {writers} writer(s), round {number}, {mode}: {result.rate:,.1f} uploads/s, "
                    f"semi-sync yes_tx +{result.yes_tx} no_tx +{result.no_tx} "
                    f"(status {result.status_after}), "
                    f"replica caught up {result.caught_up_seconds:.2f} s later",
                    flush=True,
                )
    set_mode(primary, replica, "async")
    return rounds


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_header(primary: MariaDBServer, replica: MariaDBServer, args) -> None:
    [(version, flush, sync_binlog, doublewrite, wait_point, fmt)] = query(
        primary,
        "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@innodb_doublewrite,"
        " @@rpl_semi_sync_master_wait_point, @@binlog_format",
    )
    [(replica_flush,)] = query(replica, "SELECT @@innodb_flush_log_at_trx_commit")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"{now}; nproc {len(os.sched_getaffinity(0))}; load average {load_average()}")
    print(
        f"MariaDB {version} x2 on loopback (datadirs under {tempfile.gettempdir()}). Primary made durable "
        f"for this benchmark: innodb_flush_log_at_trx_commit={flush}, sync_binlog={sync_binlog} "
        f"(MariaDBServer's test defaults overridden), binlog_format={fmt}, innodb_doublewrite={doublewrite}; "
        f"replica: innodb_flush_log_at_trx_commit={replica_flush} (test default)."
    )
    print(
        f"{args.posts:,} seeded posts with {args.photo_kib} KiB random photos; upload rounds of "
        f"{args.round_seconds:g} s, {args.rounds} per mode and writer count, async and semi-sync "
        f"interleaved; semi-sync wait point {wait_point}, timeout {SEMI_SYNC_TIMEOUT_MS} ms.\n",
        flush=True,
    )


def print_seed(seed: Seed) -> None:
    print("## Seeding a replica (mariadb-dump --single-transaction --master-data=1 --gtid | mariadb)\n")
    print("| posts | photo data MiB | dump+load s | MiB/s | dump alone s | catch-up after START SLAVE s |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {seed.posts:,} | {seed.data_mib:,.1f} | {seed.seed_seconds:.1f} | "
        f"{seed.data_mib / seed.seed_seconds:.1f} | {seed.dump_seconds:.1f} | {seed.catch_up_seconds:.2f} |"
    )
    print(
        f"\nfilling the primary took {seed.fill_seconds:.1f} s; the copy starts at GTID {seed.gtid}; "
        f"FLUSH statements the dump issued on the primary: {seed.flushes}"
    )
    print(
        f"uploads during the dump ({seed.dump_seconds:.1f} s): {seed.completed_during} completed, "
        f"max latency {ms(max(seed.during, default=0))} ms, p99 {ms(percentile(seed.during, 0.99))} ms, "
        f"p50 {ms(percentile(seed.during, 0.5))} ms (before the dump: {len(seed.baseline)} in "
        f"{BASELINE_SECONDS:g} s, max {ms(max(seed.baseline, default=0))} ms, "
        f"p50 {ms(percentile(seed.baseline, 0.5))} ms)"
    )
    cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in seed.cpu.items())
    print(f"CPU seconds during dump | load ({seed.seed_seconds:.1f} s wall): {cpu}")
    same = "yes" if seed.replica_counts == seed.primary_counts else "NO"
    print(
        f"after catch-up: primary {seed.primary_counts[0]:,} posts / {seed.primary_counts[1]:,} photos, "
        f"replica {seed.replica_counts[0]:,} / {seed.replica_counts[1]:,} (same: {same})\n"
    )


def print_uploads(rounds: list[Round], args) -> None:
    print(f"## Upload rate, publish_post with a {args.photo_kib} KiB photo, each writer its own connection\n")
    columns = ["writers", "async uploads/s", "semi-sync uploads/s", "semi-sync/async"]
    columns += ["async p50 ms", "async p99 ms", "semi-sync p50 ms", "semi-sync p99 ms"]
    print(f"| {' | '.join(columns)} |")
    print("|" + "---:|" * len(columns))
    for writers in WRITER_COUNTS:
        by_mode = {mode: [r for r in rounds if r.writers == writers and r.mode == mode] for mode in MODES}
        rate = {
            mode: sum(r.uploads for r in chosen) / sum(r.seconds for r in chosen)
            for mode, chosen in by_mode.items()
        }
        latencies = {mode: [x for r in chosen for x in r.latencies] for mode, chosen in by_mode.items()}
        figures = [f"{writers}", f"{rate['async']:,.1f}", f"{rate['semi-sync']:,.1f}"]
        figures.append(f"{rate['semi-sync'] / rate['async']:.0%}")
        for mode in MODES:
            figures += [ms(percentile(latencies[mode], 0.5)), ms(percentile(latencies[mode], 0.99))]
        print(f"| {' | '.join(figures)} |")
    print("\nper round uploads/s (in the order run):")
    for writers in WRITER_COUNTS:
        for mode in MODES:
            chosen = [r for r in rounds if r.writers == writers and r.mode == mode]
            print(f"  {writers} writer(s) {mode:9}: " + ", ".join(f"{r.rate:,.1f}" for r in chosen))
        # Each semi-sync round against the async round right before it: drift cancels out.
        pairs = [
            (a.rate, b.rate)
            for a in rounds
            for b in rounds
            if a.writers == b.writers == writers and a.number == b.number and (a.mode, b.mode) == MODES
        ]
        ratios = ", ".join(f"{semi / plain:.0%}" for plain, semi in pairs)
        print(f"  {writers} writer(s) semi-sync/async round by round: {ratios}")
    semi = [r for r in rounds if r.mode == "semi-sync"]
    not_acked = sum(r.no_tx for r in semi)
    acked_async = sum(r.yes_tx for r in rounds if r.mode == "async")
    print(
        f"semi-sync rounds: {sum(r.yes_tx for r in semi):,} transactions acknowledged by the replica, "
        f"{not_acked} committed without an acknowledgement (Rpl_semi_sync_master_no_tx growth), "
        f"status at the end of every round: {sorted({r.status_after for r in semi})}"
    )
    print(
        f"async rounds: {acked_async} acknowledged transactions (0 expected), status "
        f"{sorted({r.status_after for r in rounds if r.mode == 'async'})}"
    )
    if not_acked:
        print("WARNING: some semi-sync commits did not wait for the replica: the timeout fell back to async")
    print(
        "\nNote: on loopback the round trip to the replica is ~0 and both servers share this machine, so "
        "the semi-sync cost above is a lower bound; in the lab (each node a 1 vCPU QEMU TCG VM, a real "
        "network hop to the replica) every commit waits longer for the acknowledgement and the cost is "
        "larger."
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--round-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode and writer count (>= 1)")
    parser.add_argument("--photo-kib", type=int, default=30)
    args = parser.parse_args()
    if args.rounds < 1 or args.round_seconds <= 0 or args.posts < 0 or args.photo_kib < 1:
        parser.error("--rounds, --round-seconds and --photo-kib must be positive, --posts not negative")
    return args


def main() -> int:
    args = parse_args()
    mariadb_server.stop_on_sigterm()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        # One after the other: two mariadb-install-db bootstraps at once share /tmp for their
        # temporary tables and one sometimes aborts ("Can't find file: '/tmp/#sql-temptable-...'").
        primary = stack.enter_context(MariaDBServer(*PRIMARY_OPTIONS))
        replica = stack.enter_context(MariaDBServer(*REPLICA_OPTIONS))
        accounts = mariadb_server.provision(primary)
        mariadb_server.migrate(primary, accounts)
        replication = mariadb_server.create_replication_account(primary, REPLICATION_USER)
        print_header(primary, replica, args)
        seed = seed_replica(primary, replica, accounts, replication, args)
        print("upload rounds", flush=True)
        rounds = measure_uploads(primary, replica, accounts, args)
    print()
    print_seed(seed)
    print_uploads(rounds, args)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s; load average at the end {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
