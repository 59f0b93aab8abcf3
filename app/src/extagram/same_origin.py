"""Is a POST from the site's own page, or did another web site make a visitor's browser send it?"""

from __future__ import annotations

from urllib.parse import urlsplit

# Sec-Fetch-Site values no other site can cause: the site's own pages, and a request the visitor
# started themselves (typed address, bookmark). "same-site" (a sibling subdomain) is another site.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})

CROSS_SITE_MESSAGE = (
    "This post came from another web site, so it was not published. "
    "To post, please use the form on Extagram's own page."
)


def is_from_this_site(fetch_site: str | None, origin: str | None, host: str | None) -> bool:
    """Decide from the Sec-Fetch-Site, Origin and Host headers (None when absent)."""
    if fetch_site is not None:
        return fetch_site.strip().lower() in _OWN_FETCH_SITES
    if origin is not None:
        netloc = _origin_netloc(origin)
        return bool(netloc) and netloc == (host or "").strip().lower()
    # Neither header: every browser a cross-site form can trick sends at least one of them on a
    # POST (Origin on every cross-origin POST since Chrome 8x / Firefox 70, Sec-Fetch-Site in all
    # current engines). Only curl, scripts and the test suites send neither, and no other site
    # can make those post.
    return True


def _origin_netloc(origin: str) -> str:
    # Only host[:port] is compared: S1 passes Host through but may terminate HTTPS, so the
    # scheme the browser saw is not the one the app sees. "null" (sandboxed iframes, some
    # privacy redirects) has no netloc, so it never matches.
    return urlsplit(origin.strip()).netloc.lower()
