"""Feed benchmark: Gunicorn, S1's nginx cache in front of it, and nginx serving the same bytes.

    python tests/bench/feed_bench.py [--sizes 10,10000,100000] [--duration 10] [--connections 8]

Starts its own private MariaDB, Gunicorn and nginx servers on free loopback ports. At each table
size it measures `GET /` with wrk on three targets side by side: Gunicorn direct, a private nginx
with S1's feed cache (extagram_testing.cached_nginx) in front of that same Gunicorn, and nginx
serving the page's bytes as a static file. Then the upload rate for a ~200 KB JPEG. Everything is
torn down at the end. A script, not a test: it prints figures and never asserts timings.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from extagram_testing import mariadb_server
from extagram_testing.cached_nginx import CachedBalancer, NginxServer
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.sample_images import noise_jpeg
from extagram_testing.wrk import WrkResult, run_wrk
from extagram_testing.wrk import parse as parse_wrk

INSERT_BATCH = 5000
UPLOAD_JPEG_BYTES = 200 * 1024
CHECK_SECONDS = 2  # the checked run before each measured one; it also warms the target up
SPREAD_ATTEMPTS = 5
SPLIT_SAMPLE_SECONDS = 1.0
NGINX_WORKERS = 2  # worker_processes of both nginx targets

# A wrk script that looks at every response: status class and X-Cache-Status. It costs wrk
# 15-30 % of its rate, so it runs on the short check run only, never on a measured one.
CHECK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0; cache = {} end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local value = "-"
  for name, header in pairs(headers) do
    if string.lower(name) == "x-cache-status" then value = header end
  end
  cache[value] = (cache[value] or 0) + 1
end
function done(summary, latency, requests)
  local non2xx, cache = 0, {}
  for _, thread in ipairs(threads) do
    non2xx = non2xx + thread:get("non2xx")
    for value, count in pairs(thread:get("cache")) do cache[value] = (cache[value] or 0) + count end
  end
  io.write(string.format("check non2xx=%d\\n", non2xx))
  for value, count in pairs(cache) do io.write(string.format("check cache %s=%d\\n", value, count)) end
end
"""


@dataclass
class Check:
    """What the check run saw on every response."""

    responses: int
    non_2xx: int  # every answer outside 200-299, plus socket errors
    cache: dict[str, int]  # X-Cache-Status value ("-" when absent) -> responses

    def hit_share(self) -> float:
        return self.cache.get("HIT", 0) / max(self.responses, 1)


@dataclass
class Measured:
    wrk: WrkResult
    check: Check
    renders: int  # pages rendered by Gunicorn during the measured run (MariaDB connections opened)
    split: list[int]  # wrk's connections per worker process of the target, largest first
    attempts: int  # measured runs started (see run_wrk_spread)

    @property
    def errors(self) -> int:
        return self.wrk.errors + self.check.non_2xx


@dataclass
class SizeRow:
    posts: int
    page_bytes: int
    innodb: dict[str, int]  # innodb_state() right before the first measurement
    results: dict[str, Measured]


@dataclass(frozen=True)
class Target:
    """One measured column: `start(gunicorn_url, page)` is a context manager yielding `.url`."""

    name: str
    start: Callable[[str, bytes], contextlib.AbstractContextManager]
    workers: int | None = None  # worker processes serving it; None: the Gunicorn's


def run_check(url: str, wrk: dict, script: Path) -> Check:
    """A short wrk run that inspects every response (status, X-Cache-Status)."""
    command = [
        "wrk",
        f"-t{wrk['threads']}",
        f"-c{wrk['connections']}",
        f"-d{CHECK_SECONDS}s",
        "-s",
        str(script),
    ]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=CHECK_SECONDS + 30
    ).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = int(re.search(r"^check non2xx=(\d+)$", output, re.M).group(1))
    cache = dict(re.findall(r"^check cache (\S+)=(\d+)$", output, re.M))
    return Check(
        responses=sum(map(int, cache.values())),
        non_2xx=non_2xx + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        cache={value: int(count) for value, count in cache.items()},
    )


def worker_split(port: int) -> list[int]:
    """Established connections to `port` per process holding them, largest first (needs root)."""
    output = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sorted(collections.Counter(re.findall(r"pid=(\d+)", output)).values(), reverse=True)


def _gunicorn_direct(gunicorn_url: str, _page: bytes) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext(SimpleNamespace(url=gunicorn_url))


def _cached_balancer(gunicorn_url: str, _page: bytes) -> contextlib.AbstractContextManager:
    return CachedBalancer(gunicorn_url)


def _static_nginx(_gunicorn_url: str, page: bytes) -> contextlib.AbstractContextManager:
    """nginx serving the same page bytes from a file as `/`."""

    def server_block(server: NginxServer) -> str:
        html = server.prefix / "html"
        html.mkdir()
        (html / "index.html").write_bytes(page)
        for path in (html, html / "index.html"):
            os.chmod(path, 0o755)  # workers run as an unprivileged user when started by root
        page_type = 'default_type "text/html; charset=utf-8";'
        return f"root {html}; location = / {{ {page_type} try_files /index.html =404; }}"

    return NginxServer(server_block)


# Measured in this order at every size, one after the other against the same Gunicorn.
TARGETS = (
    Target("gunicorn", _gunicorn_direct),
    Target("cached", _cached_balancer, workers=NGINX_WORKERS),
    Target("static", _static_nginx, workers=NGINX_WORKERS),
)


def fill_posts(server: mariadb_server.MariaDBServer, total: int) -> None:
    """Top the posts table up to `total` rows; every fifth post refers to a photo name."""
    with server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM posts")
        current = cursor.fetchone()[0]
        while current < total:
            rows = []
            for number in range(current + 1, min(total, current + INSERT_BATCH) + 1):
                photo = f"{number:032x}.jpg" if number % 5 == 0 else None
                rows.append((f"Benchmark post number {number} with a little text 🙂", photo))
            cursor.executemany("INSERT INTO posts (post, photourl) VALUES (%s, %s)", rows)
            current += len(rows)


def connections_opened(server: mariadb_server.MariaDBServer) -> int:
    """MariaDB's `Connections` counter (the reading connection included)."""
    with server.root_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        return int(cursor.fetchone()[1])


def wrk_command(url: str, duration: int, connections: int, threads: int) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s", url]


def run_wrk_spread(server, url: str, workers: int, wrk: dict) -> tuple[WrkResult, list[int], int, int]:
    """The measured run, restarted while one of the target's worker processes holds none of
    wrk's connections: (result, connections per worker, attempts, pages rendered by Gunicorn).

    wrk opens its keep-alive connections all at once and keeps them for the run. A Gunicorn
    gthread worker accepts every connection it sees, busy threads or not, so on a busy machine
    one worker often takes all of them and the other idles: that run measures half a server.
    """
    port = urllib.parse.urlsplit(url).port
    for attempt in range(1, SPREAD_ATTEMPTS + 1):
        before = connections_opened(server)
        process = subprocess.Popen(wrk_command(url, **wrk), stdout=subprocess.PIPE, text=True)
        time.sleep(SPLIT_SAMPLE_SECONDS)  # wrk has connected by then; the split stays for the run
        split = worker_split(port)
        if len(split) >= min(workers, wrk["connections"]) or attempt == SPREAD_ATTEMPTS:
            output, _ = process.communicate(timeout=wrk["duration"] + 30)
            # The app opens one connection per page; the second reading opens one more.
            return parse_wrk(output), split, attempt, connections_opened(server) - before - 1
        process.terminate()
        process.wait()
        print(f"  wrk's connections per worker {split}: restarting the run", flush=True)
    raise AssertionError("unreachable")


def measure_target(
    server, target: Target, gunicorn, *, page: bytes, wrk: dict, check_script: Path, gunicorn_workers: int
) -> Measured:
    """Check run (also the warm-up), then the measured run, on one target."""
    with target.start(gunicorn.url, page) as serving:
        url = serving.url + "/"
        body = urllib.request.urlopen(url, timeout=10).read()
        if len(body) != len(page):
            print(f"  {target.name}: {len(body):,} bytes, Gunicorn sent {len(page):,}", flush=True)
        check = run_check(url, wrk, check_script)
        workers = target.workers or gunicorn_workers
        result, split, attempts, renders = run_wrk_spread(server, url, workers, wrk)
    return Measured(wrk=result, check=check, renders=renders, split=split, attempts=attempts)


def measure_feed(server, accounts, args, wrk, workdir: Path) -> list[SizeRow]:
    """All targets at every table size, in the same run against the same Gunicorn."""
    check_script = workdir / "check.lua"
    check_script.write_text(CHECK_LUA)
    rows = []
    feed_env = mariadb_server.app_env(server, accounts["feed"], mode="feed")
    with GunicornServer(feed_env, workers=args.workers, threads=args.threads) as gunicorn:
        for size in (int(text) for text in args.sizes.split(",")):
            started = time.monotonic()
            fill_posts(server, size)
            print(f"filled {size} posts in {time.monotonic() - started:.1f}s", flush=True)
            innodb = innodb_state(server)
            page = urllib.request.urlopen(gunicorn.url + "/", timeout=10).read()
            results = {}
            for target in TARGETS:
                results[target.name] = measure_target(
                    server,
                    target,
                    gunicorn,
                    page=page,
                    wrk=wrk,
                    check_script=check_script,
                    gunicorn_workers=args.workers,
                )
                print(f"  {target.name}: {results[target.name].wrk.rps:,.0f} rps", flush=True)
            rows.append(SizeRow(size, len(page), innodb, results))
    return rows


def innodb_state(server: mariadb_server.MariaDBServer) -> dict[str, int]:
    """InnoDB's background backlog: dirty pages not yet flushed, undo history not yet purged."""
    names = ("Innodb_buffer_pool_pages_dirty", "Innodb_history_list_length")
    with server.root_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (%s, %s)", names)
        return {name.removeprefix("Innodb_"): int(value) for name, value in cursor.fetchall()}


def upload_script(workdir: Path) -> Path:
    """A wrk Lua script POSTing a multipart form with a ~200 KB JPEG."""
    size = 400
    photo = noise_jpeg((size, size))
    while len(photo) < UPLOAD_JPEG_BYTES:
        size += 20
        photo = noise_jpeg((size, size))
    boundary = "extagrambenchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="post"\r\n\r\n'
            f"benchmark upload\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="photo"; filename="bench.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    (workdir / "body.bin").write_bytes(body)
    script = workdir / "upload.lua"
    script.write_text(f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"
local file = io.open("{workdir / "body.bin"}", "rb")
wrk.body = file:read("*a")
file:close()
""")
    print(f"upload photo: {size}x{size} JPEG, {len(photo) / 1024:.0f} KiB")
    return script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000,100000")
    parser.add_argument("--duration", type=int, default=10, choices=range(1, 61), metavar="SECONDS")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--skip-uploads", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk)")
    return args


def measure_uploads(server, accounts, args, wrk, workdir: Path) -> tuple:
    """(wrk result, photo rows in the database, photo files written)."""
    uploads_dir = workdir / "photos"
    uploads_dir.mkdir()
    upload_env = mariadb_server.app_env(
        server, accounts["upload"], mode="upload", uploads_dir=str(uploads_dir)
    )
    script = upload_script(workdir)
    with GunicornServer(upload_env, workers=args.workers, threads=args.threads) as gunicorn:
        result = run_wrk(
            gunicorn.url + "/upload", script=script, **{**wrk, "connections": upload_connections(args)}
        )
    with server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM photos")
        stored = cursor.fetchone()[0]
    return result, stored, len(list(uploads_dir.iterdir()))


def upload_connections(args) -> int:
    return min(args.connections, 4)


def _figures(result: Measured) -> str:
    return f"{result.wrk.rps:,.0f} | {result.wrk.p50_ms:.2f} | {result.wrk.p99_ms:.2f}"


def print_feed_table(rows: list[SizeRow]) -> None:
    names = [target.name for target in TARGETS]
    columns = ["posts", "page bytes"]
    for name in names:
        columns += [f"{name} rps", "p50 ms", "p99 ms"]
    columns += ["cached/static", "cached/gunicorn"]
    print(f"| {' | '.join(columns)} |")
    print("|" + "---:|" * len(columns))
    for row in rows:
        cached, static, app = (row.results[name] for name in ("cached", "static", "gunicorn"))
        figures = " | ".join(_figures(row.results[name]) for name in names)
        print(
            f"| {row.posts:,} | {row.page_bytes:,} | {figures} "
            f"| {cached.wrk.rps / static.wrk.rps:.0%} | {cached.wrk.rps / app.wrk.rps:.1f}x |"
        )


def print_checks(rows: list[SizeRow]) -> None:
    """Errors, cache statuses, pages rendered upstream and the connection split, per size."""
    errors = sum(result.errors for row in rows for result in row.results.values())
    print(f"\nfeed errors (non-2xx in check runs; non-2xx/3xx or socket errors in measured runs): {errors}")
    for row in rows:
        cached = row.results["cached"]
        statuses = ", ".join(f"{value} {count:,}" for value, count in sorted(cached.check.cache.items()))
        print(
            f"{row.posts:,} posts: InnoDB {row.innodb}; cached check run {cached.check.hit_share():.2%} "
            f"HIT ({statuses})"
        )
        for name, result in row.results.items():
            print(
                f"  {name}: {result.wrk.requests:,} requests, {result.renders:,} rendered by Gunicorn, "
                f"wrk connections per worker {result.split} (attempt {result.attempts})"
            )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_report(args, rows: list[SizeRow], uploads) -> None:
    print(
        f"\nwrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s (after a {CHECK_SECONDS}s "
        f"checked warm-up); gunicorn gthread {args.workers} workers x {args.threads} threads; "
        f"nginx {NGINX_WORKERS} workers; all on loopback; load average {load_average()}\n"
    )
    print_feed_table(rows)
    print_checks(rows)
    if uploads is None:
        return
    result, stored, written = uploads
    print(
        f"\nuploads (~200 KB JPEG, {upload_connections(args)} connections): "
        f"{result.rps:.1f} uploads/s, p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms, "
        f"{result.requests} requests, {result.errors} errors, {stored} photos in DB, {written} files written"
    )


def main() -> int:
    args = parse_args()
    mariadb_server.stop_on_sigterm()
    wrk = {"duration": args.duration, "connections": args.connections, "threads": args.wrk_threads}
    print(f"load average at start: {load_average()}", flush=True)
    with (
        mariadb_server.MariaDBServer() as server,
        tempfile.TemporaryDirectory(prefix="extagram-bench-") as workdir,
    ):
        accounts = mariadb_server.provision(server)
        mariadb_server.migrate(server, accounts)
        rows = measure_feed(server, accounts, args, wrk, Path(workdir))
        uploads = None if args.skip_uploads else measure_uploads(server, accounts, args, wrk, Path(workdir))
    print_report(args, rows, uploads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
