"""Live-poll benchmark: what a poll that finds nothing new costs S1, before and after, in one run.

    python tests/bench/poll_bench.py [--duration 10] [--connections 16] [--pages 1000]

Every open page asks `/api/posts` every `poll_interval_ms`. Before, each poll got the whole
newest page again; now the page sends back the tag of the page it has (`If-None-Match`) and S1
answers a 304 without a body from its copy. Starts its own MariaDB, Gunicorn and S1's feed cache
(extagram_testing.cached_nginx, compression included) on loopback, fills the newest page with the
heaviest posts there are (maximum length, every character escaped in JSON), then runs wrk against
S1 with each kind of poll: bytes per poll as wrk read them, and S1's CPU per poll (utime + stime of
nginx's processes over the run). The last columns scale both to `--pages` open pages. A script,
not a test: it prints figures and asserts no timing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from extagram.config import Config
from extagram_testing import mariadb_server
from extagram_testing.cached_nginx import CachedBalancer
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.wrk import parse as parse_wrk

# JSON escapes a character outside ASCII as \\uXXXX, twice for one outside the BMP: 12 bytes each.
# Drawn at random from a block of emoji, so compression cannot fold the posts into a few bytes.
EMOJI = [chr(code) for code in range(0x1F300, 0x1F600)]
POLL = "/api/posts"
_BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


@dataclass
class PollRun:
    name: str
    status: int
    requests: int
    bytes_read: int
    cpu_seconds: float
    rps: float

    def bytes_per_poll(self) -> float:
        return self.bytes_read / self.requests

    def cpu_ms_per_poll(self) -> float:
        return 1000 * self.cpu_seconds / self.requests


def fill_newest_page(server: mariadb_server.MariaDBServer, count: int) -> None:
    draw = random.Random(22)
    texts = [("".join(draw.choices(EMOJI, k=Config.max_text_length)),) for _ in range(count)]
    with server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        cursor.executemany("INSERT INTO posts (post) VALUES (%s)", texts)


def nginx_cpu_seconds(master_pid: int) -> float:
    """utime + stime of nginx's master and its workers so far."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        pid, parent = int(stat.parent.name), int(fields[1])
        if master_pid in (pid, parent):
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def answer(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", parts.path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def wrk_bytes_read(output: str) -> int:
    value, unit = re.search(r"requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", output).groups()
    return round(float(value) * _BYTE_UNITS[unit])


def run_polls(name: str, balancer: CachedBalancer, headers: dict[str, str], args) -> PollRun:
    url = balancer.url + POLL
    status, _headers, _body = answer(url, headers)
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "--timeout", "10s"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    cpu_before = nginx_cpu_seconds(balancer.master_pid)
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=args.duration + 30
    ).stdout
    cpu = nginx_cpu_seconds(balancer.master_pid) - cpu_before
    result = parse_wrk(output)
    return PollRun(name, status, result.requests, wrk_bytes_read(output), cpu, result.rps)


def print_report(runs: list[PollRun], args, page_bytes: int, gzipped_bytes: int) -> None:
    polls_per_second = args.pages * 1000 / Config.poll_interval_ms
    print(f"\n## Live polls, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"The newest page: {args.posts} posts of {Config.max_text_length} characters, {page_bytes:,} bytes "
        f"of JSON, {gzipped_bytes:,} compressed. wrk -t2 -c{args.connections} -d{args.duration}s against "
        f"S1's cache; {args.pages:,} open pages poll {polls_per_second:,.0f} times a second "
        f"(every {Config.poll_interval_ms} ms).\n"
    )
    print(
        "| poll | answer | polls/s | bytes per poll | S1 CPU ms per poll "
        f"| {args.pages:,} pages: MB/s out | {args.pages:,} pages: S1 CPU cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        megabytes = polls_per_second * run.bytes_per_poll() / 1e6
        cores = polls_per_second * run.cpu_ms_per_poll() / 1000
        print(
            f"| {run.name} | {run.status} | {run.rps:,.0f} | {run.bytes_per_poll():,.0f} "
            f"| {run.cpu_ms_per_poll():.3f} | {megabytes:.2f} | {cores:.2f} |"
        )
    before, after = runs
    print(
        f"\nAfter / before: bytes per poll {after.bytes_per_poll() / before.bytes_per_poll():.2%}, "
        f"S1 CPU per poll {after.cpu_ms_per_poll() / before.cpu_ms_per_poll():.2%}. "
        f"Load average at the end: {os.getloadavg()[0]:.2f}."
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pages", type=int, default=1000, help="open pages to scale the figures to")
    parser.add_argument("--posts", type=int, default=Config.page_size, help="posts on the newest page")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with mariadb_server.MariaDBServer() as server:
        accounts = mariadb_server.provision(server)
        mariadb_server.migrate(server, accounts)
        fill_newest_page(server, args.posts)
        env = mariadb_server.app_env(server, accounts["feed"], mode="feed")
        with GunicornServer(env, workers=2, threads=4) as gunicorn, CachedBalancer(gunicorn.url) as balancer:
            gzip = {"Accept-Encoding": "gzip"}
            _status, headers, gzipped = answer(balancer.url + POLL, gzip)
            _status, _headers, plain = answer(balancer.url + POLL, {})
            runs = [
                run_polls("the whole page (before)", balancer, gzip, args),
                run_polls(
                    "its tag sent back (now)", balancer, {**gzip, "If-None-Match": headers["ETag"]}, args
                ),
            ]
    print_report(runs, args, len(plain), len(gzipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
