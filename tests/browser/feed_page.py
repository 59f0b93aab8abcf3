"""The feed page as a test sees it, and publishing without a browser (helpers of tests/browser)."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import urlsplit

import requests
from playwright.sync_api import BrowserContext, Locator, Page

# Generous: a post that has not appeared by then is not coming (the page polls every ~1.2 s).
APPEAR_BOUND_MS = 15_000

# Runs before the page's own script: notes when each article first enters the DOM, in the
# browser's wall clock (the same clock as Python's time.time() on this machine).
_RECORD_ARRIVALS = """
window.__postSeenAt = {};
new MutationObserver(function (mutations) {
  mutations.forEach(function (mutation) {
    mutation.addedNodes.forEach(function (node) {
      if (node.nodeType === 1 && node.matches('article[id^="post-"]') && !(node.id in window.__postSeenAt)) {
        window.__postSeenAt[node.id] = Date.now();
      }
    });
  });
}).observe(document, { childList: true, subtree: true });
"""


class FeedPage:
    """`/` in one browser context; knows whether the page was ever navigated or reloaded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.navigations = 0
        self._marker = secrets.token_hex(8)
        page.on("framenavigated", self._count_navigation)

    @classmethod
    def open(cls, context: BrowserContext, base_url: str) -> FeedPage:
        context.add_init_script(_RECORD_ARRIVALS)
        feed = cls(context.new_page())
        feed.page.goto(base_url + "/")
        # A JS variable survives only as long as this document: a reload or navigation drops it.
        feed.page.evaluate("marker => { window.__sameDocumentMarker = marker; }", feed._marker)
        return feed

    def _count_navigation(self, frame) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1

    def assert_not_reloaded(self) -> None:
        assert self.navigations == 1, f"the page navigated {self.navigations - 1} more time(s)"
        assert self.page.evaluate("window.__sameDocumentMarker") == self._marker, "the page was reloaded"

    @property
    def notice(self) -> Locator:
        return self.page.locator("#site-notice")

    @property
    def publish_button(self) -> Locator:
        return self.page.locator("form.composer button.publish")

    def article(self, post_id: int) -> Locator:
        return self.page.locator(f"#feed > article#post-{post_id}")

    def poll_interval_seconds(self) -> float:
        return int(self.page.locator("#feed").get_attribute("data-poll-ms")) / 1000

    def wait_for_post(self, post_id: int, timeout_ms: int = APPEAR_BOUND_MS) -> None:
        self.article(post_id).wait_for(state="attached", timeout=timeout_ms)

    def seen_at(self, post_id: int) -> float:
        """When the article entered the DOM, in seconds since the epoch."""
        return self.page.evaluate("id => window.__postSeenAt[id]", f"post-{post_id}") / 1000

    def post_ids(self) -> list[int]:
        """The ids of the feed's articles, top to bottom."""
        ids = self.page.eval_on_selector_all('#feed > article[id^="post-"]', "nodes => nodes.map(n => n.id)")
        return [int(node_id.removeprefix("post-")) for node_id in ids]

    def wait_for_photo(self, post_id: int, timeout_ms: int = APPEAR_BOUND_MS) -> None:
        """Until the post's photo has loaded and decoded (naturalWidth > 0)."""
        photo = self.article(post_id).locator("img.post-photo")
        photo.scroll_into_view_if_needed()  # the feed's photos load lazily
        self.page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle(), timeout=timeout_ms
        )


def publish_directly(site, text: str, photo: bytes, filename: str = "photo.png") -> tuple[int, float]:
    """POST /upload as the form does (the chain verified against the site's CA); returns the new
    post's id and when the answer arrived."""
    response = requests.post(
        f"{site.url}/upload",
        verify=site.ca_file,
        data={"post": text},
        files={"photo": (filename, photo, "image/png" if filename.endswith(".png") else "image/jpeg")},
        allow_redirects=False,
        timeout=10,
    )
    answered_at = time.time()
    assert response.status_code == 303, response.text[:300]
    return posted_id(response.headers["Location"]), answered_at


# Where POST /upload sends the poster: /?posted=<post id>.<expiry>.<signature>.
POSTERS_PAGE = re.compile(r"/\?posted=([0-9]+)\.[0-9]{10}\.[0-9a-f]{32}$")


def posted_id(url: str) -> int:
    """The post id in the poster's page URL (what POST /upload redirects to)."""
    parts = urlsplit(url)
    assert parts.path == "/", url
    match = POSTERS_PAGE.search(f"/?{parts.query}")
    assert match, url
    return int(match.group(1))
