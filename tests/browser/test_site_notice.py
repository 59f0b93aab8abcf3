"""The notice: an open page tells when posting is unavailable, and takes it back by itself."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

from playwright.sync_api import expect

# The page asks /upload/status every second here (conftest) and right after a failed poll.
NOTICE_BOUND_MS = 10_000
# Says that posting does not work now, in whatever words: "Posting is paused", "unavailable"...
POSTING_UNAVAILABLE = re.compile(
    r"\bpost(ing|s)?\b.*\b(unavailable|paused|cannot|can't|not available)\b", re.IGNORECASE | re.DOTALL
)


@contextlib.contextmanager
def database_outage(site) -> Iterator[None]:
    """The test MariaDB is down inside the block, and always back for the tests after it."""
    site.database.halt()
    try:
        yield
    finally:
        site.database.resume()


def test_notice_follows_the_database_without_reload(site, open_feed, capsys):
    feed = open_feed()
    expect(feed.notice).to_have_count(1)
    expect(feed.notice).to_have_attribute("hidden", re.compile(".*"))
    expect(feed.publish_button).to_be_enabled()

    with database_outage(site):
        outage_started = time.monotonic()
        expect(feed.notice).to_be_visible(timeout=NOTICE_BOUND_MS)
        shown_after = time.monotonic() - outage_started
        expect(feed.notice).to_have_text(POSTING_UNAVAILABLE)
        expect(feed.publish_button).to_be_disabled(timeout=NOTICE_BOUND_MS)
    recovered = time.monotonic()

    expect(feed.notice).to_be_hidden(timeout=NOTICE_BOUND_MS)
    expect(feed.notice).to_have_attribute("hidden", re.compile(".*"))
    expect(feed.publish_button).to_be_enabled(timeout=NOTICE_BOUND_MS)
    cleared_after = time.monotonic() - recovered
    feed.assert_not_reloaded()
    with capsys.disabled():
        print(
            f"\nsite notice: shown {shown_after:.2f} s after the database stopped, "
            f"cleared {cleared_after:.2f} s after it answered again"
        )
