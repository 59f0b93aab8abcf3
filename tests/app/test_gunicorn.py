"""The app under a real Gunicorn on loopback: concurrent uploads lose nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import settings_env
from extagram_testing.sample_images import image_bytes

UPLOADS = 50


@pytest.fixture
def server(db, uploads_dir):
    env = settings_env(db.settings("upload", mode="all", uploads_dir=str(uploads_dir)))
    with GunicornServer(env, workers=2, threads=8) as running:
        yield running


def test_fifty_concurrent_uploads_all_land(server, db, uploads_dir):
    def upload(index: int) -> int:
        photo = image_bytes("PNG", size=(64, 64), color=(index * 5, 255 - index * 5, 90))
        response = requests.post(
            f"{server.url}/upload",
            data={"post": f"concurrent {index}"},
            files={"photo": (f"{index}.png", photo, "image/png")},
            allow_redirects=False,
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
        statuses = list(pool.map(upload, range(UPLOADS)))

    assert statuses == [303] * UPLOADS
    posts = db.posts()
    assert sorted(text for _id, text, _name in posts) == sorted(
        f"concurrent {index}" for index in range(UPLOADS)
    )
    names = {name for _id, _text, name in posts}
    photos = db.photos()
    assert len(names) == UPLOADS and names == set(photos)
    files = {path.name: path.read_bytes() for path in uploads_dir.iterdir()}
    assert files == {name: data for name, (_mime, data) in photos.items()}


def test_served_page_and_headers(server, db):
    db.add_posts(3)
    page = requests.get(server.url, timeout=10)
    assert page.status_code == 200 and "post 3" in page.text
    assert page.headers["X-Served-By"]
    missing = requests.get(f"{server.url}/storage/..%2f..%2fetc%2fpasswd", timeout=10)
    assert missing.status_code == 404 and "root:" not in missing.text


def test_oversized_upload_gets_the_friendly_413_page(server, db, uploads_dir):
    response = requests.post(
        f"{server.url}/upload",
        data={"post": "huge"},
        files={"photo": ("big.jpg", b"\xff" * (20 * 1024 * 1024))},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 413
    assert "Photos can be at most 10 MiB" in response.text
    assert db.count("posts") == 0 and list(uploads_dir.iterdir()) == []
