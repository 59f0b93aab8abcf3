"""Posts another web site's page makes a visitor's browser send are refused (CSRF)."""

from __future__ import annotations

import io

import pytest
from app_helpers import assert_nothing_stored

from extagram_testing.sample_images import image_bytes

# The Werkzeug test client sends this Host header.
HOST = "localhost"
REFUSED = "This post came from another web site"


def post_with_headers(client, headers: dict[str, str], path: str = "/upload"):
    """A post with a photo, so a wrongly accepted one would leave both a row and a file."""
    data = {"post": "from somewhere", "photo": (io.BytesIO(image_bytes("JPEG")), "photo.jpg", "image/jpeg")}
    return client.post(path, data=data, content_type="multipart/form-data", headers=headers)


def assert_refused(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 403, html
    assert response.content_type.startswith("text/html")
    assert REFUSED in html and "Not allowed" in html


def assert_published(response, db, uploads_dir) -> None:
    assert response.status_code == 303, response.get_data(as_text=True)
    assert (db.count("posts"), db.count("photos"), len(list(uploads_dir.iterdir()))) == (1, 1, 1)


@pytest.mark.parametrize("path", ["/upload", "/upload.php"])
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site
        {"Origin": "https://evil.example"},
        {"Origin": f"http://{HOST}:8080"},  # same host name, another port: another origin
        {"Origin": "null"},  # sandboxed iframes, some privacy redirects
        # Sec-Fetch-Site is the browser's own verdict: it wins over an Origin that looks right.
        {"Sec-Fetch-Site": "cross-site", "Origin": f"http://{HOST}"},
    ],
    ids=["cross-site", "same-site", "foreign-origin", "other-port", "origin-null", "fetch-site-wins"],
)
def test_post_from_another_site_is_refused_and_nothing_stored(client, db, uploads_dir, headers, path):
    assert_refused(post_with_headers(client, headers, path))
    assert_nothing_stored(db, uploads_dir)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": f"http://{HOST}"},
        {"Origin": f"https://{HOST}"},  # S1 may terminate HTTPS: only host[:port] is compared
        {"Sec-Fetch-Site": "same-origin"},  # without Origin
        {"Sec-Fetch-Site": "none"},  # started by the visitor, no page involved
        {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{HOST}"},
        {},  # curl, scripts, the test suites
    ],
    ids=["same-origin", "same-host-https", "fetch-site-only", "fetch-site-none", "both", "neither"],
)
def test_post_from_this_site_is_published(client, db, uploads_dir, headers):
    assert_published(post_with_headers(client, headers), db, uploads_dir)


def test_refused_before_the_body_is_read(client, db, uploads_dir):
    # Over MAX_CONTENT_LENGTH: parsing the form would answer 413, so a 403 proves it was never parsed.
    body = b"x" * (20 * 1024 * 1024)
    response = client.post(
        "/upload", data=body, content_type="multipart/form-data; boundary=x", headers={"Origin": "null"}
    )
    assert_refused(response)
    assert_nothing_stored(db, uploads_dir)


def test_upload_status_answers_any_site(client, db):
    response = client.get("/upload/status", headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert response.status_code == 200
    assert response.get_json() == {"accepting": True}
