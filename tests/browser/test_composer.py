"""The composer in a real browser: the photo preview, then publishing through the form."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from feed_page import APPEAR_BOUND_MS, POSTERS_PAGE, posted_id
from playwright.sync_api import expect

from extagram_testing.sample_images import image_bytes

SAMPLE_SIZE = (64, 48)


@pytest.mark.parametrize(("fmt", "mime_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_preview_shows_the_picked_photo_before_publishing(open_feed, fmt, mime_type):
    feed = open_feed()
    uploads = []
    feed.page.on(
        "request", lambda request: urlsplit(request.url).path == "/upload" and uploads.append(request)
    )

    feed.page.set_input_files(
        "#composer-photo",
        files=[
            {"name": f"pick.{fmt.lower()}", "mimeType": mime_type, "buffer": image_bytes(fmt, SAMPLE_SIZE)}
        ],
    )

    preview = feed.page.locator("#composer-preview")
    expect(preview).to_have_class(re.compile(r"(^|\s)chosen(\s|$)"))
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    # Its size is the picked file's, so the browser decoded that file (not the placeholder).
    feed.page.wait_for_function(
        "([img, w, h]) => img.complete && img.naturalWidth === w && img.naturalHeight === h",
        arg=[preview.element_handle(), *SAMPLE_SIZE],
    )
    assert uploads == [], "the preview must not send anything to /upload"


def test_publish_lands_on_the_new_post_with_its_photo(open_feed):
    feed = open_feed()
    page = feed.page
    text = "Publish test: a teal square"
    page.fill("#composer-text", text)
    page.set_input_files(
        "#composer-photo",
        files=[{"name": "square.jpg", "mimeType": "image/jpeg", "buffer": image_bytes("JPEG", (320, 240))}],
    )
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/upload" and r.request.method == "POST"
    ) as sent:
        page.click("form.composer button.publish")
    assert sent.value.status == 303
    page.wait_for_url(POSTERS_PAGE, timeout=APPEAR_BOUND_MS)

    post_id = posted_id(page.url)
    article = feed.article(post_id)
    expect(article).to_have_count(1)
    expect(article.locator("p.post-text")).to_have_text(text)
    feed.wait_for_photo(post_id)
    text_box = article.locator("p.post-text").bounding_box()
    photo_box = article.locator("img.post-photo").bounding_box()
    assert text_box["y"] + text_box["height"] <= photo_box["y"], "the text must sit above the photo"


def _picked_file(fmt: str, mime_type: str, size: tuple[int, int]) -> dict:
    """A real image as set_input_files takes it, as if chosen in the file dialog."""
    return {"name": f"picked.{fmt.lower()}", "mimeType": mime_type, "buffer": image_bytes(fmt, size)}


def _is_upload(request) -> bool:
    return request.method == "POST" and urlsplit(request.url).path == "/upload"
