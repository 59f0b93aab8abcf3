"""Hung database benchmark: what a frozen MariaDB costs the feed, with fail-fast off and on.

    python tests/bench/hung_database_bench.py [--clients 16] [--duration 10]

Starts a private MariaDB and two Gunicorns serving the feed from it (real Gunicorn, gthread),
one with db_fail_fast_seconds=0 and one with the default; then freezes mariadbd (SIGSTOP: it
accepts connections and never answers them, like a hung S7), times one connection attempt, and
runs the same closed loop of concurrent clients for the same time against `GET /` of each.
mariadbd is always resumed (SIGCONT) and everything torn down at the end, interrupted or not.
A script, not a test: it prints figures and never asserts timings.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import threading
import time
from dataclasses import dataclass, field

import pymysql

from extagram import db
from extagram.config import Config, load_config
from extagram_testing import mariadb_server
from extagram_testing.gunicorn_server import GunicornServer

WORKERS, THREADS = 2, 4  # per Gunicorn: 8 requests at a time
# Longer than any request can take (threads x connect timeout of queueing), so every request
# gets its answer; a client that still gets none counts it as lost.
CLIENT_TIMEOUT_SECONDS = 30
WARM_UP_REQUESTS = 20


@dataclass
class Run:
    """What the clients saw: one latency per answer, by status."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lost: int = 0  # no answer within CLIENT_TIMEOUT_SECONDS, or the connection failed

    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    def waited(self, seconds: float) -> int:
        """Answers that took at least `seconds`: a connection attempt that got no answer."""
        return sum(latency >= seconds for latency in self.latencies)

    def p95_ms(self) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=20)[-1] * 1000


def one_attempt_seconds(settings: dict) -> tuple[float, float]:
    """(PyMySQL's handshake with read_timeout=db_query_timeout as before, the app's db.connect)."""
    config = load_config(settings, environ={"EXTAGRAM_CONFIG": os.devnull})
    plain = _time_failure(
        lambda: pymysql.connect(
            host=config.db_host,
            port=config.db_port,
            user=config.db_user,
            password=config.db_password,
            connect_timeout=config.db_connect_timeout,
            read_timeout=config.db_query_timeout,
            ssl_disabled=True,
        )
    )
    return plain, _time_failure(lambda: db.connect(config))


def _time_failure(connect) -> float:
    started = time.monotonic()
    try:
        connect().close()
    except pymysql.err.OperationalError:
        return time.monotonic() - started
    raise RuntimeError("the frozen database answered")


def get(port: int) -> tuple[int, float]:
    """GET / on a fresh connection: (status, seconds until the whole answer was read)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def run_clients(port: int, clients: int, seconds: float) -> Run:
    """`clients` threads, each sending its next request when the last one is answered, until the
    time is up (requests in flight then still count)."""
    run = Run(seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                status, latency = get(port)
            except OSError:  # timeouts included
                with lock:
                    run.lost += 1
                continue
            with lock:
                run.latencies.append(latency)
                run.statuses[status] = run.statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + CLIENT_TIMEOUT_SECONDS + 5)
    return run


def print_report(args, attempt: tuple[float, float], fail_fast: int, off: Run, on: Run) -> None:
    plain, bounded = attempt
    config = Config()
    slow = config.db_connect_timeout / 2
    print(
        f"\none connection attempt to the frozen mariadbd: {bounded:.2f} s with db.connect "
        f"(db_connect_timeout {config.db_connect_timeout} s); PyMySQL with read_timeout = "
        f"db_query_timeout ({config.db_query_timeout} s), as before: {plain:.2f} s"
    )
    print(
        f"\n{args.clients} clients, closed loop, {args.duration} s, GET / (feed mode, no replica); "
        f"Gunicorn gthread {WORKERS} workers x {THREADS} threads; load average {load_average()}\n"
    )
    print(f"| | fail-fast off (0) | fail-fast on ({fail_fast} s) | on / off |")
    print("|---|---:|---:|---:|")
    rows = [
        ("answers", len(off.latencies), len(on.latencies), "{:,}"),
        ("answers/s", len(off.latencies) / off.seconds, len(on.latencies) / on.seconds, "{:,.1f}"),
        ("median latency ms", off.median_ms(), on.median_ms(), "{:,.1f}"),
        ("p95 latency ms", off.p95_ms(), on.p95_ms(), "{:,.1f}"),
        (f"answers taking >= {slow:g} s", off.waited(slow), on.waited(slow), "{:,}"),
    ]
    for name, without, with_fast, style in rows:
        ratio = with_fast / without if without else float("nan")
        print(f"| {name} | {style.format(without)} | {style.format(with_fast)} | {ratio:,.3g} |")
    print(f"\nstatuses: off {off.statuses}, on {on.statuses}; lost: off {off.lost}, on {on.lost}")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, choices=range(1, 65), metavar="1..64")
    parser.add_argument("--duration", type=int, default=10, choices=range(1, 61), metavar="SECONDS")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    mariadb_server.stop_on_sigterm()
    fail_fast = Config().db_fail_fast_seconds
    with mariadb_server.MariaDBServer() as server:
        accounts = mariadb_server.provision(server)
        mariadb_server.migrate(server, accounts)
        settings = mariadb_server.app_settings(server, accounts["feed"], mode="feed")
        envs = {
            seconds: mariadb_server.settings_env({**settings, "db_fail_fast_seconds": seconds})
            for seconds in (0, fail_fast)
        }
        with (
            GunicornServer(envs[0], WORKERS, THREADS) as without,
            GunicornServer(envs[fail_fast], WORKERS, THREADS) as with_fast,
        ):
            for gunicorn in (without, with_fast):
                for _ in range(WARM_UP_REQUESTS):  # every worker up, templates compiled
                    get(gunicorn.port)
            with server.paused():
                print(f"mariadbd frozen (SIGSTOP); load average {load_average()}", flush=True)
                attempt = one_attempt_seconds(settings)
                off = run_clients(without.port, args.clients, args.duration)
                print(f"fail-fast off: {len(off.latencies):,} answers", flush=True)
                on = run_clients(with_fast.port, args.clients, args.duration)
                print(f"fail-fast on: {len(on.latencies):,} answers", flush=True)
    print_report(args, attempt, fail_fast, off, on)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
