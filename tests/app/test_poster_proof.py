"""Read-your-own-post without an open door (issue 22): the poster's page skips S1's cache only
with a proof the app signed for that post, until it expires; anything else is sent to the plain
page, which S1 answers from its cache. Before, `?posted=<any number>` skipped the cache at will
and a made-up id cost a replica probe, a connection to the primary and a query."""

from __future__ import annotations

import time

import pytest
import requests
from app_helpers import posters_page, publish

from extagram import poster_proof
from extagram.config import ConfigError
from extagram_testing.mariadb_server import TEST_POSTER_PROOF_SECRET

OTHER_SECRET = "another-site-s-poster-proof-secret-0123456789"


def proof_page(secret: str, post_id: int, expires: int) -> str:
    return f"/?posted={poster_proof.signed(secret, post_id, expires)}"


def test_the_upload_sends_the_poster_to_a_page_that_marks_their_post(client, db):
    landing = client.get(publish(client, "mine").headers["Location"])
    [(post_id, _text, _photo)] = db.posts()
    assert landing.status_code == 200 and f'class="card post own" id="post-{post_id}"' in landing.text
    assert landing.headers["Cache-Control"] == "no-store"


def forged_pages(post_id: int) -> dict[str, str]:
    genuine = posters_page(post_id)
    in_a_minute = int(time.time()) + 60
    return {
        "another secret": proof_page(OTHER_SECRET, post_id, in_a_minute),
        "another post's proof": genuine.replace(f"posted={post_id}.", f"posted={post_id + 1}.", 1),
        "a later expiry": genuine.replace(genuine.split(".")[1], str(in_a_minute + 3600), 1),
        "a changed signature": genuine[:-1] + ("0" if genuine[-1] != "0" else "1"),
        "expired": proof_page(TEST_POSTER_PROOF_SECRET, post_id, int(time.time()) - 1),
    }


@pytest.mark.parametrize("forgery", list(forged_pages(1)))
def test_a_forged_or_expired_proof_gets_the_plain_page(client, db, forgery):
    [post_id] = db.add_posts(1)
    page = client.get(forged_pages(post_id)[forgery])
    assert (page.status_code, page.headers["Location"]) == (303, "/")
    assert page.headers["Cache-Control"] == "no-store"


def test_a_proof_works_until_it_expires_and_never_after(make_app, db):
    [post_id] = db.add_posts(1)
    client = make_app(poster_proof_seconds=5).test_client()
    page = posters_page(post_id, lifetime_seconds=1)
    assert client.get(page).status_code == 200
    assert client.get(page).status_code == 200  # the poster reloads: still theirs
    time.sleep(2.1)
    assert client.get(page).status_code == 303


def test_through_s1_a_forged_proof_changes_nothing_the_next_visitor_gets(s1, db):
    [post_id] = db.add_posts(1, text="visible")
    for page in forged_pages(post_id).values():
        answer = requests.get(s1.url + page, allow_redirects=False, timeout=10)
        assert (answer.status_code, answer.headers["Location"]) == (303, "/")
    plain = requests.get(s1.url + "/", timeout=10)
    assert plain.status_code == 200 and "visible" in plain.text


def test_every_app_node_needs_the_same_long_secret(make_app):
    with pytest.raises(ConfigError, match="poster_proof_secret"):
        make_app(poster_proof_secret="")
    with pytest.raises(ConfigError, match="at least 32"):
        make_app(poster_proof_secret="short")
