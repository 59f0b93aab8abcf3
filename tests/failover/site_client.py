"""The site as a visitor reaches it, through S1: an HTTP client, and how to read its answers.

Nothing here uses SSH or knows the nodes: what runs on which node is node_kinds.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time
from collections import Counter

from extagram_failover import labctl, loadgen
from extagram_lab import inventory

MARKER = re.compile(r"failover probe (fo-[A-Za-z0-9_.-]+)")
TRACEBACK_SIGNS = (
    "Traceback (most recent call last)",
    'File "/',
    "pymysql",
    "OperationalError",
    "Werkzeug Debugger",
    "InterfaceError",
)
# How wait_healthy's error begins: conftest stops the run on it (every later case would wait too).
SITE_DOWN = "site not healthy through S1"
NGINX_DEFAULT_PAGE = "<center>nginx</center>"
UPLOAD_UNAVAILABLE = re.compile(r"uploads?\W+(?:are\W+|is\W+)?temporarily\W+unavailable", re.I)


# -- classification of single responses ------------------------------------------------------------


def text_of(result: loadgen.Result) -> str:
    return result.body.decode("utf-8", "replace")


def has_traceback(result: loadgen.Result) -> bool:
    body = text_of(result)
    return any(sign in body for sign in TRACEBACK_SIGNS)


def friendly_503(result: loadgen.Result) -> bool:
    """A deliberate 'temporarily unavailable' answer: no raw gateway page, no traceback."""
    if result.status != 503 or has_traceback(result):
        return False
    body = text_of(result)
    if NGINX_DEFAULT_PAGE in body:
        return False
    if result.ctype.startswith("application/json"):
        try:
            return bool(json.loads(body).get("error"))
        except ValueError:
            return False
    return result.ctype.startswith("text/html") and "temporarily unavailable" in body.lower()


def upload_unavailable_page(result: loadgen.Result) -> bool:
    return (
        result.status == 503
        and result.ctype.startswith("text/html")
        and UPLOAD_UNAVAILABLE.search(text_of(result)) is not None
        and not has_traceback(result)
    )


def describe(result: loadgen.Result) -> str:
    what = result.error or f"{result.status} {result.ctype.split(';')[0]}"
    textual = result.ctype.startswith(("text/", "application/json"))
    snippet = " ".join(text_of(result).split())[:90] if textual and not result.error else ""
    served = f" by {result.served_by}" if result.served_by else ""
    return f"{result.method} {result.path} -> {what}{served} in {result.latency:.2f}s" + (
        f" {snippet!r}" if snippet else ""
    )


# -- the site as a whole ---------------------------------------------------------------------------


class SiteClient:
    """HTTP through S1 only, like a visitor; `run_id` goes into every post marker of the session."""

    def __init__(self, base_url: str, run_id: str):
        self.base_url = base_url
        self.run_id = run_id

    def get(self, path: str, kind: str = loadgen.PAGE, timeout: float = 10):
        return loadgen.fetch(self.base_url, "GET", path, kind=kind, timeout=timeout)

    def post(self, tag: str, timeout: float = 30) -> loadgen.Result:
        marker = f"fo-{self.run_id}-{tag}-{time.monotonic_ns() % 10**9}"
        return loadgen.post_photo(
            self.base_url,
            f"failover probe {marker}",
            loadgen.small_jpeg(hash(marker)),
            marker=marker,
            timeout=timeout,
        )

    def health(self, with_post: bool = False, tag: str = "health") -> tuple[bool, str, list]:
        """(healthy, reason, posts made): feed page, API, a photo, CSS and optionally a post."""
        posts = []
        page = self.get("/")
        if not loadgen.page_ok(page):
            return False, describe(page), posts
        api = self.get("/api/posts")
        if not loadgen.page_ok(api):
            return False, describe(api), posts
        photos = loadgen.photo_paths(api)
        if photos:
            photo = self.get(photos[0], kind=loadgen.PHOTO)
            if not loadgen.photo_ok(photo):
                return False, describe(photo), posts
        css = self.get("/static/style.css", kind=loadgen.STATIC)
        if not loadgen.static_ok(css):
            return False, describe(css), posts
        if with_post:
            post = self.post(tag)
            posts.append(post)
            if post.status != 303:
                return False, describe(post), posts
        return True, "ok", posts

    def wait_healthy(self, timeout: float, with_post: bool = False, tag: str = "health"):
        """Seconds until healthy, and the posts made meanwhile; raises LabError on timeout."""
        began = time.monotonic()
        posts: list = []
        reason = "never checked"
        while time.monotonic() - began < timeout:
            healthy, reason, made = self.health(with_post, tag)
            posts += made
            if healthy:
                return time.monotonic() - began, posts
            time.sleep(1)
        balancer = inventory.balancer().name
        raise labctl.LabError(
            f"{SITE_DOWN} after {timeout:.0f}s: {reason}\n{balancer}, as the lab sees it:\n"
            + labctl.why(balancer)
        )

    # -- posts -------------------------------------------------------------------------------------
    def newest_post_id(self) -> int:
        # S1's copy may be a moment old: that only lowers the id, and posts_since() then reads a
        # few more posts, which the case's markers sort out.
        api = self.get("/api/posts")
        if not loadgen.page_ok(api):
            raise labctl.LabError(f"cannot read the feed: {describe(api)}")
        posts = json.loads(api.body)["posts"]
        return posts[0]["id"] if posts else 0

    def posts_since(self, after_id: int, max_pages: int = 200) -> list[dict]:
        """Every post with id > after_id, oldest first, paging the API with ?after=. Only this
        reader asks these addresses, so S1 holds no older copy of them to answer with."""
        found: list[dict] = []
        after = after_id
        for _page in range(max_pages):
            api = self.get(f"/api/posts?after={after}", timeout=20)
            if not loadgen.page_ok(api):
                raise labctl.LabError(f"cannot page the feed: {describe(api)}")
            answer = json.loads(api.body)
            found += answer["posts"]
            if not answer["posts"] or not answer.get("has_more"):
                return found
            after = answer["posts"][-1]["id"]
        raise labctl.LabError(f"more than {max_pages} pages of new posts")

    def verify_posts(self, after_id: int, posts: list[loadgen.Result], refused: set[str]) -> dict:
        """Acknowledged (303) posts present exactly once with their photo; `refused` absent.

        `posts` are every post this case sent (any outcome); `refused` the markers of those
        that got a definitive refusal (a 4xx, or a 503 while the node was known down).
        """
        sent = {post.marker for post in posts}
        acked = {post.marker for post in posts if post.status == 303}
        stored = self.posts_since(after_id)
        mine = [
            (match.group(1), post)
            for match, post in ((MARKER.search(post["text"]), post) for post in stored)
            if match and match.group(1) in sent
        ]
        counts = Counter(marker for marker, _post in mine)
        urls = [post["photo_url"] for _marker, post in mine if post.get("photo_url")]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            fetched = list(pool.map(lambda url: self.get(url, kind=loadgen.PHOTO, timeout=20), urls))
        return {
            "acked": len(acked),
            "found": sum(1 for marker in acked if counts[marker] >= 1),
            "lost": sorted(acked - set(counts)),
            "duplicated": sorted(marker for marker, count in counts.items() if count > 1),
            "stored_despite_error": sorted(refused & set(counts)),
            "stored_unacknowledged": sorted(set(counts) - acked),
            "without_photo": sorted(marker for marker, post in mine if not post.get("photo_url")),
            "photos_checked": len(urls),
            "broken_photos": [describe(r) for r in fetched if not loadgen.photo_ok(r)],
        }
