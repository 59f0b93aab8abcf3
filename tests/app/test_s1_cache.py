"""S1's microcache, as the role renders it, in a real nginx in front of a real Gunicorn and MariaDB."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

FRESH_S = 1  # the app's default max-age
# nginx keeps expiry times in whole seconds: a 1 s copy can count as fresh for up to 2 s.
EXPIRED_AFTER_S = FRESH_S + 1.2


def get(s1, path: str) -> requests.Response:
    return requests.get(s1.url + path, timeout=10)


def test_a_fresh_copy_is_reused_and_each_address_has_its_own(s1, db):
    db.add_posts(2)
    assert get(s1, "/").headers["X-Cache-Status"] == "MISS"
    assert get(s1, "/").headers["X-Cache-Status"] == "HIT"
    assert get(s1, "/?before=2").headers["X-Cache-Status"] == "MISS"
    assert get(s1, "/api/posts").headers["X-Cache-Status"] == "MISS"


def test_one_request_per_key_reaches_the_app(s1, db):
    db.add_posts(2)
    before = db.global_status("Connections")
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: get(s1, "/api/posts").status_code, range(20)))
    assert statuses == [200] * 20
    # One app request for the 20 (the cache lock), plus the second status query's own connection.
    assert db.global_status("Connections") - before == 1 + 1


def test_a_new_post_shows_after_the_fresh_time_and_at_once_to_its_poster(s1, db):
    db.add_posts(1, text="old")
    assert "old" in get(s1, "/").text
    response = requests.post(
        s1.url + "/upload", data={"post": "brand new"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    landing = get(s1, response.headers["Location"])
    assert landing.headers["X-Cache-Status"] == "BYPASS" and "brand new" in landing.text
    deadline = time.monotonic() + FRESH_S + 5
    while "brand new" not in get(s1, "/").text:
        assert time.monotonic() < deadline, "the shared page never showed the new post"
        time.sleep(0.2)


def test_stale_copies_answer_while_the_database_is_down(s1, db):
    db.add_posts(1, text="kept")
    get(s1, "/")
    get(s1, "/api/posts")
    db.server.halt()
    try:
        time.sleep(EXPIRED_AFTER_S)
        for path in ["/", "/api/posts"]:
            response = get(s1, path)
            assert response.status_code == 200 and "kept" in response.text, path
            assert response.headers["X-Cache-Status"] in ("STALE", "UPDATING"), path
        never_cached = get(s1, "/?before=1")
        assert never_cached.status_code == 503 and never_cached.headers["Cache-Control"] == "no-store"
        assert get(s1, "/upload/status").status_code == 503
    finally:
        db.server.resume()


def test_stale_copies_answer_when_no_app_answers(app_server, s1, db):
    db.add_posts(1, text="kept")
    get(s1, "/")
    app_server.__exit__(None, None, None)
    time.sleep(EXPIRED_AFTER_S)
    response = get(s1, "/")
    assert response.status_code == 200 and "kept" in response.text
    assert response.headers["X-Cache-Status"] in ("STALE", "UPDATING")


def test_a_refused_address_is_answered_by_s1_itself_and_never_kept(s1, db):
    for _ in range(2):
        response = get(s1, "/?before=abc")
        assert response.status_code == 400 and "X-Cache-Status" not in response.headers


# A copy is fresh for max-age (1 s), and nginx counts in whole seconds (up to 1 s more); then the
# next reader waits for a new copy while the others get the old one, for the time a render takes
# (milliseconds here; half a second is room for a busy test machine).
OLDEST_PAGE_S = FRESH_S + 1 + 0.5


def test_the_first_visitor_after_a_quiet_spell_gets_the_current_page(s1, db):
    db.add_posts(1, text="old")
    for path in ["/", "/api/posts"]:
        assert "old" in get(s1, path).text
    time.sleep(EXPIRED_AFTER_S + 2)
    db.add_posts(1, text="written during the quiet spell")
    for path in ["/", "/api/posts"]:
        response = get(s1, path)
        assert "written during the quiet spell" in response.text, (path, response.headers["X-Cache-Status"])


def test_under_steady_reads_no_page_is_older_than_the_bound(s1, db):
    db.add_posts(1, text="old")
    started = time.monotonic()
    while time.monotonic() - started < OLDEST_PAGE_S:  # a copy made, refreshed, in use
        get(s1, "/")
        time.sleep(0.05)
    db.add_posts(1, text="the newest")
    written = time.monotonic()
    while "the newest" not in get(s1, "/").text:
        assert time.monotonic() - written < OLDEST_PAGE_S, "the page stayed older than the bound"
        time.sleep(0.05)


def test_an_unchanged_poll_gets_a_304_without_a_body_from_s1s_copy(s1, db):
    db.add_posts(2, text="x" * 500)
    first = get(s1, "/api/posts")  # compressed, as browsers ask: the tag is weak then
    assert first.headers["Content-Encoding"] == "gzip" and first.headers["ETag"].startswith('W/"')
    unchanged = requests.get(
        s1.url + "/api/posts", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["X-Cache-Status"] in ("HIT", "UPDATING")
    db.add_posts(1, text="news")
    time.sleep(EXPIRED_AFTER_S)
    changed = requests.get(
        s1.url + "/api/posts", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert changed.status_code == 200 and "news" in changed.text
    assert changed.headers["ETag"] != first.headers["ETag"]
