"""What TLS on the database link costs: the same work over verified TLS and over plain TCP.

    python tests/bench/db_tls_bench.py [--posts 2000] [--photo-side 128] [--rounds 3] [--round-seconds 3]

A private MariaDB on loopback with a certificate from a throw-away CA (what role mariadb gets
from role pki). The app's accounts do not require TLS here, so one account runs both ways and
TLS is the only difference. Interleaved round by round, each operation with its own connection
as the app opens one per request:
- connect: connect, SELECT 1, close (the handshake alone);
- page: GET / of a feed app without a replica (a feed node whose replica is behind);
- upload: POST /upload of a noise JPEG of --photo-side pixels square (its own connection and
  transaction).
Then the re-seed's copy: mariadb-dump --single-transaction --hex-blob of --posts posts with photos
into a pipe, verified TLS against --skip-ssl. A script, not a test: it prints figures and never
asserts timings. Loopback has no network cost, so a ratio here is TLS's CPU cost alone.
"""

from __future__ import annotations

import argparse
import datetime
import io
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from extagram import create_app
from extagram import db as extagram_db
from extagram.config import load_config
from extagram_testing import mariadb_server
from extagram_testing.sample_images import noise_jpeg
from extagram_testing.throwaway_ca import ThrowawayCA

LINKS = ("plain", "tls")
FILL_BATCH = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000, help="posts with photos added for the dump")
    parser.add_argument("--photo-side", type=int, default=128, help="pixels of the square noise JPEG")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-seconds", type=float, default=3.0)
    return parser.parse_args()


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, run one after another for about `seconds`."""
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        operation()
        done += 1
    return done / elapsed


def operations(settings: Callable[..., dict], photo: bytes) -> dict[str, dict[str, Callable]]:
    """For each link, the three operations, each opening its own connection."""
    by_link = {}
    for link in LINKS:
        feed = create_app(settings(link, mode="feed")).test_client()
        upload = create_app(settings(link, mode="upload")).test_client()
        config = load_config(settings(link, mode="feed"))

        def connect(config=config) -> None:
            with extagram_db.connect(config) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT 1")

        def page(feed=feed) -> None:
            assert feed.get("/").status_code == 200

        def post(upload=upload) -> None:
            data = {"post": "bench", "photo": (io.BytesIO(photo), "bench.jpg", "image/jpeg")}
            assert upload.post("/upload", data=data, content_type="multipart/form-data").status_code == 303

        by_link[link] = {"connect": connect, "page": page, "upload": post}
    return by_link


def measure(by_link: dict, rounds: int, seconds: float) -> dict[str, dict[str, list[float]]]:
    rates = {name: {link: [] for link in LINKS} for name in by_link["tls"]}
    for name in rates:
        for link in LINKS:
            by_link[link][name]()  # warm: the first connection, the page's template
        for _round in range(rounds):
            for link in LINKS:
                rates[name][link].append(rate(by_link[link][name], seconds))
    return rates


def fill(server: mariadb_server.MariaDBServer, posts: int, photo: bytes) -> None:
    with server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        for start in range(0, posts, FILL_BATCH):
            names = [f"fill-{number}.jpg" for number in range(start, min(start + FILL_BATCH, posts))]
            cursor.executemany(
                "INSERT INTO photos (name, mime_type, data) VALUES (%s, 'image/jpeg', %s)",
                [(name, photo) for name in names],
            )
            cursor.executemany(
                "INSERT INTO posts (post, photourl) VALUES ('filled', %s)", [(f"storage/{n}",) for n in names]
            )


def dump_seconds(server, account, ca: ThrowawayCA, link: str) -> tuple[float, int]:
    security = ["--skip-ssl"] if link == "plain" else [f"--ssl-ca={ca.ca_file}", "--ssl-verify-server-cert"]
    command = [
        *("mariadb-dump", "--no-defaults", f"--host={server.host}", f"--port={server.port}"),
        *(f"--user={account.user}", f"--password={account.password}", *security),
        *("--single-transaction", "--hex-blob", "--quick", mariadb_server.DB_NAME),
    ]
    started = time.perf_counter()
    dumped = subprocess.run(command, check=True, capture_output=True).stdout
    return time.perf_counter() - started, len(dumped)


def main() -> None:
    args = parse_args()
    mariadb_server.stop_on_sigterm()
    photo = noise_jpeg((args.photo_side, args.photo_side))
    with tempfile.TemporaryDirectory(prefix="extagram-db-tls-") as work:
        ca = ThrowawayCA(Path(work), "mariadb")
        with mariadb_server.MariaDBServer(*mariadb_server.tls_options(ca)) as server:
            accounts = mariadb_server.provision(server)
            mariadb_server.migrate(server, accounts)

            def settings(link: str, mode: str) -> dict:
                role = "feed" if mode == "feed" else "upload"
                values = mariadb_server.app_settings(server, accounts[role], mode=mode, uploads_dir=work)
                return {**values, "db_tls_ca": str(ca.ca_file) if link == "tls" else ""}

            rates = measure(operations(settings, photo), args.rounds, args.round_seconds)
            fill(server, args.posts, photo)
            posts = server_posts(server)
            dumps = {
                link: [dump_seconds(server, accounts["migrate"], ca, link) for _ in range(args.rounds)]
                for link in LINKS
            }
    report(args, len(photo), posts, rates, dumps)


def server_posts(server: mariadb_server.MariaDBServer) -> int:
    with server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM posts")
        return cursor.fetchone()[0]


def report(args, photo_bytes: int, posts: int, rates, dumps) -> None:
    print(f"# db_tls_bench {datetime.date.today()}: {args.rounds} rounds of {args.round_seconds} s, loopback")
    print(f"{'operation':<10} {'plain /s':>10} {'tls /s':>10} {'tls/plain':>10}   (best round)")
    for name, by_link in rates.items():
        plain, tls = max(by_link["plain"]), max(by_link["tls"])
        print(f"{name:<10} {plain:>10.1f} {tls:>10.1f} {tls / plain:>10.2f}")
    plain_s, size = min(dumps["plain"])
    tls_s, _ = min(dumps["tls"])
    print(
        f"photo {photo_bytes / 1024:.0f} KiB; dump of {posts} posts with photos"
        f" ({size / 2**20:.1f} MiB of SQL): plain {plain_s:.2f} s, tls {tls_s:.2f} s,"
        f" tls/plain {tls_s / plain_s:.2f}"
    )


if __name__ == "__main__":
    main()
