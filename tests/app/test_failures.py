"""Failure paths: database down or hung, uploads_dir missing, unwritable or hanging."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pymysql
import pytest
from app_helpers import assert_nothing_stored, publish

from extagram import db as extagram_db
from extagram import photos
from extagram.config import load_config
from extagram_testing.mariadb_server import free_port
from extagram_testing.sample_images import image_bytes


@pytest.fixture
def hung_database():
    """A TCP port that accepts connections but never speaks (like a frozen MariaDB)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def assert_friendly_503(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "temporarily unavailable" in html
    assert "Traceback" not in html and "pymysql" not in html.lower()
    assert response.headers["X-Served-By"]


def test_database_down_gives_friendly_503_and_no_orphan_file(make_app, db, uploads_dir):
    client = make_app(db_port=free_port()).test_client()
    assert_friendly_503(publish(client, "lost", photo=image_bytes("JPEG")))
    assert_friendly_503(client.get("/"))
    assert client.get("/api/posts?after=0").status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "mode": "all", "database": "down"}
    assert_nothing_stored(db, uploads_dir)


def test_hung_database_is_bounded_by_the_timeouts(make_app, db, uploads_dir, hung_database):
    client = make_app(db_port=hung_database, db_connect_timeout=1, db_query_timeout=1).test_client()
    started = time.monotonic()
    assert_friendly_503(publish(client, "stuck", photo=image_bytes("JPEG")))
    assert client.get("/healthz").status_code == 503
    assert time.monotonic() - started < 2 * 2 + 1.5
    assert_nothing_stored(db, uploads_dir)


# A database that does not answer costs one connect timeout (CONNECT s); a skipped one, next to nothing.
CONNECT = 0.5
SKIPPED = 0.1


def timed_get(client, path: str = "/"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def assert_costs_the_connect_timeout(elapsed: float) -> None:
    assert 0.8 * CONNECT <= elapsed < 1.8 * CONNECT, elapsed


def test_a_hung_database_costs_the_connect_timeout_not_the_query_timeout(make_app, hung_database):
    # The handshake (greeting, authentication) is bounded by the connect timeout too.
    client = make_app(
        db_port=hung_database, db_connect_timeout=CONNECT, db_query_timeout=5, db_fail_fast_seconds=0
    ).test_client()
    for _ in range(2):  # fail-fast off: every attempt waits
        response, elapsed = timed_get(client)
        assert_friendly_503(response)
        assert_costs_the_connect_timeout(elapsed)


def test_once_connected_queries_get_the_query_timeout(db):
    config = load_config(db.settings("feed", db_connect_timeout=0.2, db_query_timeout=1))
    with extagram_db.connect(config) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT SLEEP(0.5)")  # longer than the connect timeout: still answered
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError, match="Lost connection"):
            cursor.execute("SELECT SLEEP(3)")
    assert 1 <= time.monotonic() - started < 1.8


def test_a_database_that_did_not_answer_is_skipped_for_a_while(make_app, hung_database, caplog):
    client = make_app(db_port=hung_database, db_connect_timeout=CONNECT, db_fail_fast_seconds=1).test_client()
    response, elapsed = timed_get(client)
    assert_friendly_503(response)
    assert_costs_the_connect_timeout(elapsed)
    for path in ("/", "/api/posts", "/healthz"):
        response, elapsed = timed_get(client, path)
        assert response.status_code == 503 and elapsed < SKIPPED, (path, elapsed)
    assert caplog.text.count("failing at once for 1 s") == 1  # once per window, not per request

    time.sleep(1)
    response, elapsed = timed_get(client)
    assert_friendly_503(response)
    assert_costs_the_connect_timeout(elapsed)  # the window is over: it tried again
    assert caplog.text.count("failing at once for 1 s") == 2


def test_after_the_window_one_request_tries_again_while_the_others_still_skip(make_app, hung_database):
    app = make_app(db_port=hung_database, db_connect_timeout=CONNECT, db_fail_fast_seconds=1)
    timed_get(app.test_client())
    time.sleep(1)
    with ThreadPoolExecutor(4) as pool:
        times = sorted(pool.map(lambda _: timed_get(app.test_client())[1], range(4)))
    assert max(times[:3]) < SKIPPED, times
    assert_costs_the_connect_timeout(times[3])


def test_a_paused_mariadb_is_skipped_then_used_again(make_app, db):
    client = make_app(db_connect_timeout=CONNECT, db_fail_fast_seconds=1).test_client()
    with db.server.paused():
        response, elapsed = timed_get(client)
        assert_friendly_503(response)
        assert_costs_the_connect_timeout(elapsed)
        response, elapsed = timed_get(client)
        assert_friendly_503(response)
        assert elapsed < SKIPPED
    time.sleep(1)
    assert client.get("/").status_code == 200


def test_a_refused_connection_is_not_remembered(make_app, db, tmp_path):
    socket_path = tmp_path / "mysqld.sock"
    client = make_app(
        db_unix_socket=str(socket_path), db_connect_timeout=CONNECT, db_fail_fast_seconds=60
    ).test_client()
    with socket.socket(socket.AF_UNIX) as not_listening:
        not_listening.bind(str(socket_path))  # a socket nobody listens on: connecting is refused
        response, elapsed = timed_get(client)
    assert_friendly_503(response)
    assert elapsed < SKIPPED
    # The database is back (as after a restart): the very next request uses it.
    socket_path.unlink()
    socket_path.symlink_to(db.server.socket_path)
    assert client.get("/").status_code == 200


def test_healthz_is_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "mode": "all", "database": "up"}


@pytest.mark.parametrize("layout", ["missing", "parent-is-a-file"])
def test_unwritable_uploads_dir_still_publishes_from_the_db(make_app, db, tmp_path, layout, caplog):
    if layout == "missing":
        uploads_dir = tmp_path / "not-mounted"
    else:
        (tmp_path / "a-file").write_text("not a directory")
        uploads_dir = tmp_path / "a-file" / "photos"
    client = make_app(uploads_dir=str(uploads_dir)).test_client()
    response = publish(client, "still here", photo=image_bytes("PNG"), filename="p.png")
    assert response.status_code == 303
    [(_id, text, name)] = db.posts()
    assert text == "still here" and name in db.photos()
    assert client.get(f"/storage/{name}").status_code == 200
    assert not uploads_dir.exists()
    assert f"photo {name} not written" in caplog.text


def test_hanging_uploads_dir_answers_within_the_write_timeout(make_app, db, uploads_dir, monkeypatch, caplog):
    # The write blocks for real: the temp file path is a FIFO nobody reads.
    name = "feedfacefeedfacefeedfacefeedface.png"
    monkeypatch.setattr(photos, "new_photo_name", lambda extension: name)
    fifo = uploads_dir / f".{name}.tmp"
    os.mkfifo(fifo)
    client = make_app(uploads_write_timeout=1).test_client()
    try:
        started = time.monotonic()
        response = publish(client, "slow disk", photo=image_bytes("PNG"), filename="p.png")
        elapsed = time.monotonic() - started
        assert response.status_code == 303
        assert 1 <= elapsed < 1 + 0.75
        assert db.posts()[0][1:] == ("slow disk", name)
        assert f"photo {name} not written to {uploads_dir} within 1" in caplog.text
    finally:
        _release_blocked_writer(fifo)
    assert not (uploads_dir / name).exists()


def _release_blocked_writer(fifo) -> None:
    """Open the FIFO's read end so the writer thread unblocks, and drain what it writes."""

    def drain() -> None:
        with open(fifo, "rb") as reader:
            while reader.read(65536):
                pass

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    drainer.join(5)
