"""Bounded database connections (issue 22): a request opens at most one connection to each
database and closes it at its end, and a Gunicorn thread serves one request at a time, so a node
holds at most workers x threads connections to its replica and as many to the primary (the
mariadb role's limits leave room for that: docs/database.md). A database out of connections is a
clean fallback: the primary instead of a full replica (test_replica.py), the 503 page for a full
primary."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from app_helpers import out_of_connections

from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import settings_env

WORKERS, THREADS = 2, 3
CLIENTS, REQUESTS = 24, 240


def test_a_node_never_holds_more_connections_than_its_threads(db):
    db.add_posts(30)
    env = settings_env(db.settings("feed", mode="feed"))
    with GunicornServer(env, workers=WORKERS, threads=THREADS) as server:
        # Max_used_connections starts again from the connections open now (this one included).
        db.query("FLUSH STATUS")
        already_open = db.global_status("Max_used_connections")
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            pages = [f"{server.url}/?before={2 + number % 28}" for number in range(REQUESTS)]
            statuses = list(pool.map(lambda url: requests.get(url, timeout=30).status_code, pages))
        peak = db.global_status("Max_used_connections")
    assert statuses == [200] * REQUESTS
    # The counting query's own connection is open when the peak is read.
    assert peak - already_open <= WORKERS * THREADS, (peak, already_open)


def test_a_primary_out_of_connections_gets_the_503_page(make_app, db):
    client = make_app("feed").test_client()
    with out_of_connections(db.server):
        page = client.get("/")
    assert page.status_code == 503 and "temporarily unavailable" in page.get_data(as_text=True)
