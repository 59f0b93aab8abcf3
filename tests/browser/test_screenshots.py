"""Screenshots for the docs, taken from the real browser against the real stack."""

from __future__ import annotations

from pathlib import Path

from feed_page import publish_directly

from extagram_testing.sample_images import image_bytes

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SAMPLE_POSTS = [
    ("Morning light over the harbour", "steelblue"),
    ("Lunch: the lemon tart was worth the queue", "gold"),
    ("Evening walk, the hills turned orange", "darkorange"),
]


def test_feed_screenshot(site, open_feed):
    post_ids = [
        publish_directly(site, text, image_bytes("JPEG", (640, 240), color=color), "photo.jpg")[0]
        for text, color in SAMPLE_POSTS
    ]
    feed = open_feed()
    feed.page.set_viewport_size({"width": 900, "height": 1500})  # the composer and three posts
    for post_id in post_ids:
        feed.wait_for_post(post_id)
        feed.wait_for_photo(post_id)
    feed.page.evaluate("window.scrollTo(0, 0)")

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / "feed.png"
    feed.page.screenshot(path=str(path))
    assert path.stat().st_size > 0
