"""Bounded database connections (issue 22): a request opens at most one connection to each
database and closes it at its end, and a Gunicorn thread serves one request at a time, so a node
holds at most workers x threads connections to its replica and as many to the primary (the
mariadb role's limits leave room for that: docs/database.md). A database out of connections is a
clean fallback: the primary instead of a full replica (test_replica.py), the 503 page for a full
primary."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from app_helpers import out_of_connections

from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import settings_env

WORKERS, THREADS = 2, 3
CLIENTS, REQUESTS = 24, 240
TCP_ESTABLISHED = "01"  # the `st` column of /proc/net/tcp


class HeldConnections(threading.Thread):
    """The most TCP connections to `port` that clients on this machine held open at once, sampled
    from /proc/net/tcp while the load runs. Counted on the client's side: MariaDB's own
    Max_used_connections also counts a connection the client has closed until the server thread
    ends, so a thread that closed one and opened the next was counted twice (a peak of 7 for 6
    threads, on 2026-12-06 with the lab's VMs running)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self._remote = f":{port:04X}"
        self._done = threading.Event()
        self.peak = 0

    def held(self) -> int:
        rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        return sum(1 for row in rows if row[2].endswith(self._remote) and row[3] == TCP_ESTABLISHED)

    def run(self) -> None:
        while not self._done.wait(0.001):
            self.peak = max(self.peak, self.held())

    def __enter__(self) -> HeldConnections:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._done.set()
        self.join()


def test_a_node_never_holds_more_connections_than_its_threads(db):
    db.add_posts(30)
    env = settings_env(db.settings("feed", mode="feed"))
    pages = [f"/?before={2 + number % 28}" for number in range(REQUESTS)]
    with (
        GunicornServer(env, workers=WORKERS, threads=THREADS) as server,
        HeldConnections(db.server.port) as connections,
        ThreadPoolExecutor(max_workers=CLIENTS) as pool,
    ):
        statuses = list(pool.map(lambda page: requests.get(server.url + page, timeout=30).status_code, pages))
    assert statuses == [200] * REQUESTS
    # At least one: the sampler saw the app's connections (the test's own use the unix socket).
    assert 1 <= connections.peak <= WORKERS * THREADS, connections.peak


def test_a_primary_out_of_connections_gets_the_503_page(make_app, db):
    client = make_app("feed").test_client()
    with out_of_connections(db.server):
        page = client.get("/")
    assert page.status_code == 503 and "temporarily unavailable" in page.get_data(as_text=True)
