"""Failure paths: database down or hung, uploads_dir missing, unwritable or hanging."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from app_helpers import assert_nothing_stored, publish

from extagram import photos
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
