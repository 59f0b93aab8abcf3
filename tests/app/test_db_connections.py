"""Bounded database connections (issue 22): a request holds one connection at a time (its
replica's or the primary's, test_replica.py) and closes it at its end, and a Gunicorn thread
serves one request at a time, so a node holds at most workers x threads connections in all (the
mariadb role's limits leave room for that: docs/database.md). A database out of connections is a
clean fallback: the primary instead of a full replica (test_replica.py), the 503 page for a full
primary."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from app_helpers import out_of_connections

from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import settings_env

WORKERS, THREADS = 2, 3
CLIENTS, REQUESTS = 24, 240


class HeldConnections(threading.Thread):
    """The most TCP connections to `port` that clients on this machine held open at once, and
    which (their local addresses), sampled while the load runs. Counted on the client's side:
    MariaDB's own Max_used_connections also counts a connection the client has closed until the
    server thread ends, so a thread that closed one and opened the next was counted twice (a peak
    of 7 for 6 threads, on 2026-12-06 with the lab's VMs running).

    Asked with `ss`, whose filter the kernel applies in one pass over its table. Reading
    /proc/net/tcp under this load took 60 to 1000 ms (it lists every TIME_WAIT socket, thousands),
    long enough for a thread to close a connection the read had already listed and open the next:
    peaks of 10 and 25 for 6 threads whose traced connections were never more than 6 open at once.
    """

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self._query = ["ss", "-Htn", "state", "established", "dport", "=", f":{port}"]
        self._done = threading.Event()
        self.at_peak: list[str] = []

    @property
    def peak(self) -> int:
        return len(self.at_peak)

    def held(self) -> list[str]:
        """The local address of each connection (ss's columns: Recv-Q, Send-Q, local, peer)."""
        listed = subprocess.run(self._query, capture_output=True, text=True, check=True).stdout
        return [line.split()[2] for line in listed.splitlines()]

    def run(self) -> None:
        while not self._done.is_set():
            held = self.held()
            if len(held) > self.peak:
                self.at_peak = held

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
    bound = WORKERS * THREADS
    assert 1 <= connections.peak <= bound, f"{connections.peak} at once, from {connections.at_peak}"


def test_a_primary_out_of_connections_gets_the_503_page(make_app, db):
    client = make_app("feed").test_client()
    with out_of_connections(db.server):
        page = client.get("/")
    assert page.status_code == 503 and "temporarily unavailable" in page.get_data(as_text=True)
