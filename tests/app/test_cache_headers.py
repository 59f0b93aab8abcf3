"""What the app lets S1 and browsers keep: the shared feed for a moment, nothing else."""

from __future__ import annotations

import re

from app_helpers import publish

from extagram_testing.mariadb_server import free_port

SHARED = "public, max-age=1"


def test_feed_page_and_live_answer_are_shared_for_the_configured_time(make_app, db):
    db.add_posts(3)
    client = make_app().test_client()
    for path in ["/", "/extagram.php", "/?before=3", "/api/posts", "/api/posts?after=1"]:
        assert client.get(path).headers["Cache-Control"] == SHARED, path
    longer = make_app(feed_cache_seconds=5).test_client()
    assert longer.get("/").headers["Cache-Control"] == "public, max-age=5"


def test_the_posters_own_page_is_never_kept_and_marks_their_post(client, db):
    response = publish(client, "mine")
    assert response.headers["Cache-Control"] == "no-store"
    landing = client.get(response.headers["Location"])
    html = landing.get_data(as_text=True)
    assert landing.headers["Cache-Control"] == "no-store"
    post_id = db.posts()[0][0]
    assert re.search(rf'<article class="card post own" id="post-{post_id}">', html)


def test_errors_health_and_status_are_never_kept(make_app, db):
    client = make_app().test_client()
    for response in [
        client.get("/missing"),
        client.get("/?before=abc"),
        client.get("/api/posts?after=x"),
        client.get("/healthz"),
        publish(client, ""),
    ]:
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    down = make_app(db_port=free_port()).test_client()
    for path in ["/", "/api/posts", "/healthz", "/upload/status"]:
        response = down.get(path)
        assert response.status_code == 503 and response.headers["Cache-Control"] == "no-store", path


def test_upload_status_says_whether_a_post_would_be_accepted(make_app, db):
    accepting = make_app().test_client().get("/upload/status")
    assert accepting.get_json() == {"accepting": True}
    assert accepting.headers["Cache-Control"] == SHARED  # a "yes" may be shared for a moment
    down = make_app(db_port=free_port()).test_client().get("/upload/status")
    assert (down.status_code, down.get_json()) == (503, {"accepting": False})


def test_the_page_carries_the_script_intervals(make_app, db):
    client = make_app(poll_interval_ms=700, health_interval_ms=9000).test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'data-poll-ms="700"' in html and 'data-health-ms="9000"' in html
    assert re.search(r'<p id="site-notice"[^>]*\shidden>', html)
