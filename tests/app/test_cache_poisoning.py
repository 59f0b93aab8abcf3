"""One visitor cannot poison S1's cache (issue 22): every other spelling of a cached address is
refused, by S1 (the role's maps) and by the app alike, and none changes what the next plain page
or live poll gets. Before, `/?%62efore=1` stored "No older posts" under the key of `/`, and
`/api/posts?%62efore=1` an empty list under the key every open page polls."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import NamedTuple

import pytest
from app_helpers import posters_page

# Spellings of the page's query that are not its one canonical form (a name exactly, one
# parameter, a post id without sign, leading zero or decoration).
PAGE_VARIANTS = [
    "%62efore=1",
    "Before=1",
    "BEFORE=1",
    "before=1&before=2",
    "before=01",
    "before=+1",
    "before=-1",
    "before=",
    "before",
    "before=1&",
    "&before=1",
    "before=%31",
    "before=1.0",
    "before=1%00",
    "before=9999999999999999999",
    "utm_source=newsletter",
    "before=1&utm=x",
    "after=1",
    "posted=1&before=1",
    "%70osted=1",
    # The poster's proof is the only form of posted=: a bare id, or a proof in another spelling.
    "posted=1",
    "posted=1.1700000000",
    "posted=01.1700000000.0123456789abcdef0123456789abcdef",
    "posted=1.1700000000.0123456789ABCDEF0123456789ABCDEF",
    "posted=1.1700000000.0123456789abcdef0123456789abcde",
    "posted=1.1700000000.0123456789abcdef0123456789abcdef&x=1",
]
API_VARIANTS = [
    "%62efore=1",
    "%61fter=1",
    "After=1",
    "after=1&after=2",
    "after=00",
    "after=1&before=2",
    "after=",
    "posted=1",
    "before=1&posted=1",
    "x=1",
]
ATTEMPTS = 3  # a background refresh once re-used the poisoner's URI: a few requests kept the poison


class Answer(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    text: str


def get(base: str, path: str) -> Answer:
    """GET `path` exactly as written: requests would decode `%62` to `b` before sending it."""
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode(errors="replace"))
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path", [f"/?{q}" for q in PAGE_VARIANTS] + [f"/api/posts?{q}" for q in API_VARIANTS]
)
def test_s1_and_the_app_refuse_every_other_spelling(s1, app_server, db, path):
    db.add_posts(3)
    at_s1 = get(s1.url, path)
    assert at_s1.status == 400 and "X-Cache-Status" not in at_s1.headers, path
    assert get(app_server.url, path).status == 400, path


def test_no_spelling_changes_what_the_next_page_and_poll_get(s1, db):
    db.add_posts(3, text="visible")
    for _ in range(ATTEMPTS):
        for query in PAGE_VARIANTS:
            get(s1.url, f"/?{query}")
            get(s1.url, f"/extagram.php?{query}")
        for query in API_VARIANTS:
            get(s1.url, f"/api/posts?{query}")
    page = get(s1.url, "/")
    assert page.status == 200 and page.text.count("visible") == 3
    assert "No older posts" not in page.text and 'data-live="on"' in page.text
    poll = json.loads(get(s1.url, "/api/posts").text)
    assert [post["text"] for post in poll["posts"]] == ["visible"] * 3


@pytest.mark.parametrize("path", ["/?before=3", "/api/posts?after=0", "/api/posts?before=2"])
def test_the_canonical_spellings_are_served(s1, db, path):
    db.add_posts(3)
    assert get(s1.url, path).status == 200


def test_the_posters_page_is_served(s1, db):
    [post_id] = db.add_posts(1)
    assert get(s1.url, posters_page(post_id)).status == 200
