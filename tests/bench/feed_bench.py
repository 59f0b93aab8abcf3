"""Feed benchmark: Gunicorn vs nginx serving the same page bytes, at 10 / 10k / 100k posts.

    python tests/bench/feed_bench.py [--duration 10] [--connections 8]

Starts its own private MariaDB, Gunicorn and nginx on free loopback ports, measures with wrk
(bounded by --duration), prints one table, then the upload rate for a ~200 KB JPEG, and tears
everything down. A script, not a test: it never asserts timings.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from extagram_testing import mariadb_server
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.sample_images import noise_jpeg

INSERT_BATCH = 5000
UPLOAD_JPEG_BYTES = 200 * 1024
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def run_wrk(url: str, duration: int, connections: int, threads: int, script: Path | None = None) -> WrkResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration + 30
    ).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M).groups()
        return float(value) * _UNITS_MS[unit]

    non_success = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_success.group(1)) if non_success else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        errors=errors,
    )


class StaticNginx:
    """nginx with its own prefix and config, serving one file as `/` on a free port."""

    def __init__(self, page: bytes) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="extagram-nginx-"))
        self.port = mariadb_server.free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        (self.prefix / "html").mkdir()
        (self.prefix / "html" / "index.html").write_bytes(page)
        for path in (self.prefix, self.prefix / "html", self.prefix / "html" / "index.html"):
            os.chmod(path, 0o755)  # workers run as an unprivileged user when started by root
        (self.prefix / "nginx.conf").write_text(f"""
daemon off;
worker_processes 2;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.prefix}/client_body;
    proxy_temp_path {self.prefix}/proxy;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.prefix}/html;
        location = / {{ default_type "text/html; charset=utf-8"; try_files /index.html =404; }}
    }}
}}
""")
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> StaticNginx:
        nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
        self._process = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.1)

    def __exit__(self, *_exc) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


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
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian package wrk)")
    return args


def measure_feed(server, accounts, args, wrk) -> list[tuple]:
    """(posts, page bytes, Gunicorn result, nginx-serving-the-same-bytes result) per table size."""
    rows = []
    feed_env = mariadb_server.app_env(server, accounts["feed"], mode="feed")
    with GunicornServer(feed_env, workers=args.workers, threads=args.threads) as gunicorn:
        for size in (int(text) for text in args.sizes.split(",")):
            started = time.monotonic()
            fill_posts(server, size)
            print(f"filled {size} posts in {time.monotonic() - started:.1f}s", flush=True)
            page = urllib.request.urlopen(gunicorn.url + "/", timeout=10).read()
            run_wrk(gunicorn.url + "/", **{**wrk, "duration": 1})  # warm-up
            app_result = run_wrk(gunicorn.url + "/", **wrk)
            with StaticNginx(page) as nginx:
                static_result = run_wrk(nginx.url, **wrk)
            rows.append((size, len(page), app_result, static_result))
    return rows


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


def print_report(args, rows, uploads) -> None:
    print(
        f"\nwrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s; gunicorn gthread "
        f"{args.workers} workers x {args.threads} threads; nginx 2 workers; all on loopback\n"
    )
    columns = (
        "posts | page bytes | gunicorn rps | p50 ms | p99 ms | nginx rps | p50 ms | p99 ms | nginx/gunicorn"
    )
    print(f"| {columns} |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, page_bytes, app, static in rows:
        print(
            f"| {size:,} | {page_bytes:,} | {app.rps:,.0f} | {app.p50_ms:.2f} | {app.p99_ms:.2f} "
            f"| {static.rps:,.0f} | {static.p50_ms:.2f} | {static.p99_ms:.2f} | {static.rps / app.rps:.1f}x |"
        )
    errors = sum(result.errors for _size, _bytes, app, static in rows for result in (app, static))
    print(f"\nfeed errors (non-2xx/3xx or socket): {errors}")
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
    with (
        mariadb_server.MariaDBServer() as server,
        tempfile.TemporaryDirectory(prefix="extagram-bench-") as workdir,
    ):
        accounts = mariadb_server.provision(server)
        mariadb_server.migrate(server, accounts)
        rows = measure_feed(server, accounts, args, wrk)
        uploads = measure_uploads(server, accounts, args, wrk, Path(workdir))
    print_report(args, rows, uploads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
