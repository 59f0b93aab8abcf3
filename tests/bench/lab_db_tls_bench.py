"""TLS on the lab's database links against plain TCP, side by side on the same nodes and account.

    .venv/bin/python tests/lab/lab.py run .venv/bin/python tests/bench/lab_db_tls_bench.py [--count 30]

Run on a converged lab (`make up`). The app's accounts require TLS, so the script makes a bench
account on S7, from S4's and S2's addresses, that does not (REQUIRE NONE), and a scratch database of
--scratch-mib of photo-sized rows kept out of the binary log (no replica sees it); both are dropped at
the end, whatever happens. Rounds interleave the two links:
- on S4 (the upload node, the app's venv), --count times each: connect, the feed's first page
  (store.newest_posts), close: a page read from the primary; and connect, a 200 KiB photo's bytes
  sent and counted by the server, close: what the link adds to an upload. Plain, verified TLS
  with a full handshake each time, and verified TLS as the app connects (extagram.db.connect,
  which resumes the last session);
- on S2 (a feed node): mariadb-dump --single-transaction --hex-blob of the scratch database: the
  re-seed's copy.
Every VM is a QEMU TCG guest on two host cores: the figures are this lab's. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import shlex
import statistics

from extagram_failover.labctl import ssh_output
from extagram_lab import inventory

BENCH_USER = "extagram_bench"
SCRATCH_DB = "extagram_scratch"
LINKS = ("plain", "tls")
APP_PYTHON = "/opt/extagram/venv/bin/python"
APP_CA = "/etc/extagram/db-ca.crt"
ROW_KIB = 200

# Runs on S4 with the app's venv, as root (the CA is in /etc/extagram, 0750): one line
# "<operation> <link> <ms per operation>" per round.
LINK_PROBE = """
import os, ssl, sys, time, pymysql
from extagram import db, store
from extagram.config import load_config
host, password, ca, count, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
account = {"user": "extagram_bench", "password": password}
settings = {"db_host": host, "db_user": account["user"], "db_password": password}
no_file = {"EXTAGRAM_CONFIG": os.devnull}
configs = {"plain": load_config({**settings, "db_tls_ca": ""}, no_file),
           "tls": load_config({**settings, "db_tls_ca": ca}, no_file)}
full = ssl.create_default_context(cafile=ca)
def link(kind):
    if kind == "tls_full":  # verified TLS without the app's session resumption
        return pymysql.connect(host=host, database="extagram", ssl=full, **account)
    return db.connect(configs[kind])
photo = os.urandom(200 * 1024)
def page(kind):
    with link(kind) as connection:
        store.newest_posts(connection, 20)
def photo_bytes(kind):
    with link(kind) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT LENGTH(%s)", (photo,))
for operation in (page, photo_bytes):
    for kind in ("plain", "tls_full", "tls"):
        operation(kind)
    for _ in range(rounds):
        for kind in ("plain", "tls_full", "tls"):
            started = time.perf_counter()
            for _ in range(count):
                operation(kind)
            print(operation.__name__, kind, (time.perf_counter() - started) / count * 1000, flush=True)
"""


def root_sql(node: str, statements: str, timeout: float = 120) -> str:
    """Statements as root on the primary, kept out of the binary log: no replica sees them."""
    unlogged = shlex.quote("SET sql_log_bin = 0; " + statements)
    return ssh_output(node, f"sudo mysql -N -B -e {unlogged}", timeout)


def set_up(primary: str, clients: list[str], password: str, scratch_mib: int) -> None:
    rows = max(1, scratch_mib * 1024 // ROW_KIB)
    statements = [
        f"CREATE DATABASE {SCRATCH_DB}",
        f"CREATE TABLE {SCRATCH_DB}.photos (id INT PRIMARY KEY, data LONGBLOB)",
        f"INSERT INTO {SCRATCH_DB}.photos"
        f" SELECT seq, REPEAT(RANDOM_BYTES(1024), {ROW_KIB}) FROM {SCRATCH_DB}.seq_1_to_{rows}",
    ]
    for address in clients:
        account = f"'{BENCH_USER}'@'{address}'"
        statements += [
            f"CREATE USER {account} IDENTIFIED BY '{password}' REQUIRE NONE",
            f"GRANT SELECT ON extagram.* TO {account}",
            f"GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON {SCRATCH_DB}.* TO {account}",
        ]
    root_sql(primary, "; ".join(statements), timeout=300)


def tear_down(primary: str, clients: list[str]) -> None:
    users = ", ".join(f"'{BENCH_USER}'@'{address}'" for address in clients)
    root_sql(primary, f"DROP USER IF EXISTS {users}; DROP DATABASE IF EXISTS {SCRATCH_DB}")


def link_rounds(upload: str, primary_address: str, password: str, count: int, rounds: int) -> dict:
    arguments = f"{primary_address} {password} {APP_CA} {count} {rounds}"
    probe = f"sudo {APP_PYTHON} -c {shlex.quote(LINK_PROBE)} {arguments}"
    out = ssh_output(upload, probe, timeout=60 + count * rounds * 10)
    figures: dict = {}
    for line in out.splitlines():
        operation, link, milliseconds = line.split()
        figures.setdefault(operation, {}).setdefault(link, []).append(float(milliseconds))
    return figures


def dump_seconds(feed: str, primary_address: str, password: str, link: str) -> tuple[float, int]:
    security = "--skip-ssl" if link == "plain" else "--ssl-ca=/etc/mysql/tls/ca.crt --ssl-verify-server-cert"
    dump = (
        f"MYSQL_PWD={password} mariadb-dump --no-defaults -h {primary_address} -u {BENCH_USER} {security}"
        f" --single-transaction --hex-blob --quick {SCRATCH_DB} | wc -c"
    )
    out = ssh_output(feed, f"s=$(date +%s%N); b=$({dump}); echo $b $(( ($(date +%s%N) - s) / 1000000 ))", 600)
    size, milliseconds = out.split()[-2:]
    return int(milliseconds) / 1000, int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="operations per round and link")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scratch-mib", type=int, default=16)
    args = parser.parse_args()
    primary = inventory.group("database")[0]
    upload, feed = inventory.group("upload")[0], inventory.group("feed")[0]
    password = secrets.token_hex(16)
    clients = [upload.address, feed.address]
    try:
        set_up(primary.name, clients, password, args.scratch_mib)
        links = link_rounds(upload.name, primary.address, password, args.count, args.rounds)
        dumps = {link: [] for link in LINKS}
        for _round in range(args.rounds):
            for link in LINKS:
                dumps[link].append(dump_seconds(feed.name, primary.address, password, link))
    finally:
        tear_down(primary.name, clients)
    report(args, links, dumps, (upload.name, feed.name, primary.name))


def report(args, links: dict, dumps: dict, names: tuple[str, str, str]) -> None:
    upload, feed, primary = names
    print(f"# lab_db_tls_bench {datetime.date.today()}: {args.rounds} rounds, medians, ms")
    heading = f"operation ({upload} to {primary})"
    print(f"{heading:<34} {'plain':>7} {'tls full':>9} {'tls app':>8} {'full/plain':>11} {'app/plain':>10}")
    for operation, by_link in links.items():
        plain, full, app = (statistics.median(by_link[kind]) for kind in ("plain", "tls_full", "tls"))
        print(
            f"{operation + ', new connection':<34} {plain:>7.1f} {full:>9.1f} {app:>8.1f}"
            f" {full / plain:>11.2f} {app / plain:>10.2f}"
        )
    plain_s = statistics.median(seconds for seconds, _ in dumps["plain"])
    tls_s = statistics.median(seconds for seconds, _ in dumps["tls"])
    size = dumps["tls"][0][1]
    dump = f"dump {size // 2**20} MiB ({feed} from {primary})"
    print(f"{dump:<34} {plain_s * 1000:>7.0f} {tls_s * 1000:>9.0f} {'':>8} {tls_s / plain_s:>11.2f}")


if __name__ == "__main__":
    main()
