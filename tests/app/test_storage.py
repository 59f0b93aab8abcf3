"""GET /storage/<name>: photos from the database copy, cache headers, strict names."""

from __future__ import annotations

import pytest
from app_helpers import publish

from extagram_testing.mariadb_server import free_port
from extagram_testing.sample_images import image_bytes

UNKNOWN = "0123456789abcdef0123456789abcdef.jpg"


@pytest.fixture
def stored_photo(client, db, uploads_dir):
    assert publish(client, "photo", photo=image_bytes("PNG"), filename="p.png").status_code == 303
    [(name, (mime, data))] = db.photos().items()
    (uploads_dir / name).unlink()  # the DB copy alone must be enough
    return name, mime, data


def test_photo_is_served_from_the_database(client, stored_photo):
    name, mime, data = stored_photo
    response = client.get(f"/storage/{name}")
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == mime == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["ETag"] == f'"{name.split(".")[0]}"'
    assert response.headers["X-Served-By"]


def test_matching_etag_gets_304_without_body(client, stored_photo):
    name, _mime, _data = stored_photo
    etag = client.get(f"/storage/{name}").headers["ETag"]
    response = client.get(f"/storage/{name}", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert "immutable" in response.headers["Cache-Control"]
    other = client.get(f"/storage/{name}", headers={"If-None-Match": '"somethingelse"'})
    assert other.status_code == 200


def test_unknown_photo_is_404_even_with_an_etag(client, db):
    missing = client.get(f"/storage/{UNKNOWN}")
    # S1 may keep the answer to a made-up name for a moment, instead of asking the database again.
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "public, max-age=10"
    response = client.get(f"/storage/{UNKNOWN}", headers={"If-None-Match": f'"{UNKNOWN[:32]}"'})
    assert response.status_code == 404


BAD_NAMES = [
    "../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "0123456789ABCDEF0123456789ABCDEF.jpg",
    "0123456789abcdef0123456789abcdef.jpeg",
    "0123456789abcdef0123456789abcdef.php",
    "0123456789abcdef0123456789abcdef.JPG",
    "0123456789abcdef0123456789abcde.jpg",
    "0123456789abcdef0123456789abcdef.jpg%0a",
    "0123456789abcdef0123456789abcdef.jpg%00.png",
    "0123456789abcdef0123456789abcdef.jpg/extra",
    "sub/0123456789abcdef0123456789abcdef.jpg",
    ".0123456789abcdef0123456789abcdef.jpg.tmp",
    "",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_outside_the_pattern_are_404_without_touching_the_database(make_app, name):
    # The app points at a dead database: any query would turn into a 503, not a 404.
    client = make_app(mode="feed", db_port=free_port(), db_connect_timeout=0.5).test_client()
    response = client.get(f"/storage/{name}")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)
    assert client.get(f"/storage/{UNKNOWN}").status_code == 503  # proves the DB really is dead
