"""Live updates: an open page shows new posts without reloading, in id order, through S1's cache."""

from __future__ import annotations

import random
import statistics
import time

from feed_page import POSTERS_PAGE, FeedPage, posted_id, publish_directly
from playwright.sync_api import expect

from extagram_testing.sample_images import image_bytes

TIMED_POSTS = 12


def test_a_post_from_one_page_appears_in_another_without_reload(site, open_feed, capsys):
    poster, watcher = open_feed(), open_feed()

    poster.page.fill("#composer-text", "Hello from the other page")
    poster.page.click("form.composer button.publish")
    poster.page.wait_for_url(POSTERS_PAGE)
    first_id = posted_id(poster.page.url)
    watcher.wait_for_post(first_id)
    expect(watcher.article(first_id).locator("p.post-text")).to_have_text("Hello from the other page")

    delays = [_timed_post(site, watcher, number) for number in range(1, TIMED_POSTS + 1)]

    watcher.assert_not_reloaded()
    with capsys.disabled():
        print(f"\n{_delay_summary(delays)}")


def _timed_post(site, watcher: FeedPage, number: int) -> float:
    """Seconds from the POST's answer until the article entered the watching page's DOM."""
    # A random moment in the poll cycle, so the figures sample every phase of it.
    time.sleep(random.uniform(0, watcher.poll_interval_seconds()))
    photo = image_bytes("PNG", (80, 60), color=random.choice(["teal", "coral", "gold", "navy"]))
    post_id, answered_at = publish_directly(site, f"Live update {number} of {TIMED_POSTS}", photo)
    watcher.wait_for_post(post_id)
    return watcher.seen_at(post_id) - answered_at


def _delay_summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"live-update delay: p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, "
        f"max {ordered[-1]:.2f} s over {len(ordered)} posts (POST answered -> article in the other page)"
    )


def test_a_late_commit_is_placed_below_the_newer_post(site, open_feed):
    """Ids are taken at INSERT, rows appear at COMMIT: post N can show up after N+1."""
    watcher = open_feed()
    with site.upload_connection() as late, site.upload_connection() as early:
        late.begin()
        older_id = _insert_post(late, "Committed last, id taken first")
        early.begin()
        newer_id = _insert_post(early, "Committed first, id taken second")
        early.commit()
        assert newer_id == older_id + 1

        watcher.wait_for_post(newer_id)
        expect(watcher.article(older_id)).to_have_count(0)
        late.commit()

    watcher.wait_for_post(older_id)
    expect(watcher.article(older_id).locator("p.post-text")).to_have_text("Committed last, id taken first")
    ids = watcher.post_ids()
    assert ids[ids.index(newer_id) + 1] == older_id, f"post {older_id} must sit right below {newer_id}: {ids}"
    assert ids == sorted(ids, reverse=True), f"the feed must stay newest first: {ids}"
    watcher.assert_not_reloaded()


def _insert_post(connection, text: str) -> int:
    """The post row as store.publish_post writes it (no photo), inside the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO posts (post, photourl, created_at) VALUES (%s, NULL, UTC_TIMESTAMP())", (text,)
        )
        return cursor.lastrowid


def test_a_poll_that_finds_nothing_new_costs_a_304_without_a_body(site, open_feed):
    watcher = open_feed()
    polls = []
    watcher.page.on(
        "response",
        lambda response: (
            polls.append((response.status, response.headers.get("content-length")))
            if response.url.endswith("/api/posts")
            else None
        ),
    )
    deadline = time.monotonic() + 8 * watcher.poll_interval_seconds()
    while sum(1 for status, _length in polls if status == 304) < 3:
        assert time.monotonic() < deadline, f"no three unchanged polls answered 304: {polls}"
        watcher.page.wait_for_timeout(200)
    assert polls[0][0] == 200, "the first poll has no tag to send yet"
    assert all(length in (None, "0") for status, length in polls if status == 304), polls
    post_id, _answered_at = publish_directly(site, "Seen after the 304s", image_bytes("PNG", (40, 30)))
    watcher.wait_for_post(post_id)
    watcher.assert_not_reloaded()
