"""A small, bounded load through the balancer: readers and writers on plain threads.

Readers fetch the feed (HTML page or JSON API), then photos it references and a static file.
Writers publish a text carrying a unique marker plus a small generated JPEG at a steady pace.
Every request is recorded (start, end, status, content type, X-Served-By, error), so a test can
cut the timeline into phases afterwards. The load stops by itself after `max_seconds` or
`max_requests`, whichever comes first, and `stop()` ends it earlier; every socket operation has
a timeout, so a dead node can never hang a thread.

Stdlib only (http.client, threading), and the lab's CA to verify S1's HTTPS chain against;
Pillow is used for the JPEG when it is installed.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import json
import random
import re
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

from extagram_lab import lab_ca

PHOTO_SRC = re.compile(r"/storage/[0-9a-f]{32}\.(?:jpg|png|gif|webp)")
STATIC_FILES = {
    "/static/style.css": "text/css",
    "/static/preview.svg": "image/svg+xml",
    "/static/extagram.js": "javascript",
}
# A page of posts older than an id no post has yet: the newest posts, in a copy S1 has never
# made, so a feed node renders every one (what any visitor can ask for; S1's page limit bounds it).
UNCACHED_PAGE_PREFIX = "/?before="
# The page loads every visitor shares (S1 keeps one copy of each).
SHARED_PAGES = ("/", "/extagram.php")
PAGE_PATHS = (*SHARED_PAGES, "/api/posts", UNCACHED_PAGE_PREFIX)
# X-Cache-Status values of an answer S1 took from its cache: a copy a feed node made earlier.
FROM_CACHE = ("HIT", "STALE", "UPDATING", "REVALIDATED")
S1_CACHE = "S1 cache"
# Request kinds; "page" covers the HTML feed and its JSON twin.
PAGE, PHOTO, STATIC, POST = "page", "photo", "static", "post"

# A 8x8 JPEG, used only when Pillow is not installed.
_FALLBACK_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4"
    "UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
    "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ip"
    "qrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAA"
    "AAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLR"
    "ChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaX"
    "mJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEA"
    "PwCtRRRXmHvH/9k="
)


def small_jpeg(seed: int) -> bytes:
    """A 48x36 JPEG of a colour derived from `seed` (a few hundred bytes)."""
    try:
        from PIL import Image
    except ImportError:
        return _FALLBACK_JPEG
    rng = random.Random(seed)
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    output = io.BytesIO()
    Image.new("RGB", (48, 36), colour).save(output, "JPEG", quality=80)
    return output.getvalue()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]):
    """(body, content type) of a multipart/form-data request."""
    boundary = "----extagram-failover-" + uuid.uuid4().hex
    chunks = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, ctype, data) in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


@dataclass
class Result:
    """One HTTP exchange. `status` is 0 when no response came (error says why)."""

    kind: str
    method: str
    path: str
    start: float  # time.monotonic()
    end: float
    status: int = 0
    ctype: str = ""
    served_by: str = ""  # who answered: X-Served-By, or S1_CACHE for a cached copy
    cache_status: str = ""
    read_from: str = ""  # X-Read-From: the feed node's own replica, or the primary
    body: bytes = b""
    error: str = ""
    marker: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


# One context for every request: it loads the CA file once.
tls_context = functools.cache(lab_ca.ssl_context)


def open_connection(parts: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    """HTTPS verified against the lab's CA, or plain HTTP, as the URL says."""
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=tls_context())
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def fetch(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    kind: str = "",
    keep_body: int = 65536,
) -> Result:
    """One request on a fresh connection (no keep-alive surprises); never raises."""
    parts = urllib.parse.urlsplit(base_url)
    start = time.monotonic()
    result = Result(kind=kind, method=method, path=path, start=start, end=start)
    connection = open_connection(parts, timeout)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        result.status = response.status
        result.ctype = response.getheader("Content-Type", "")
        result.cache_status = response.getheader("X-Cache-Status", "")
        result.read_from = response.getheader("X-Read-From", "")
        from_cache = result.cache_status in FROM_CACHE
        result.served_by = S1_CACHE if from_cache else response.getheader("X-Served-By", "")
        result.body = data[:keep_body]
    except (OSError, http.client.HTTPException) as error:
        kind_name = "timeout" if isinstance(error, (socket.timeout, TimeoutError)) else type(error).__name__
        result.error = f"{kind_name}: {error}"
    finally:
        connection.close()
        result.end = time.monotonic()
    return result


def post_photo(
    base_url: str, text: str, jpeg: bytes, *, path: str = "/upload", timeout: float = 30.0, marker: str = ""
) -> Result:
    body, ctype = multipart({"post": text}, {"photo": ("failover.jpg", "image/jpeg", jpeg)})
    result = fetch(
        base_url, "POST", path, body=body, headers={"Content-Type": ctype}, timeout=timeout, kind=POST
    )
    result.marker = marker
    return result


def uncached_page() -> str:
    return f"{UNCACHED_PAGE_PREFIX}{random.randrange(10**16, 10**17)}"


def is_uncached_page(path: str) -> bool:
    return path.startswith(UNCACHED_PAGE_PREFIX)


def page_ok(result: Result) -> bool:
    if result.status != 200:
        return False
    if result.path.startswith("/api/"):
        return result.ctype.startswith("application/json")
    return result.ctype.startswith("text/html")


def photo_ok(result: Result) -> bool:
    return result.status == 200 and result.ctype.startswith("image/") and len(result.body) > 0


def static_ok(result: Result) -> bool:
    expected = STATIC_FILES.get(result.path.split("?")[0], "")
    return result.status == 200 and expected in result.ctype and len(result.body) > 0


def post_ok(result: Result) -> bool:
    return result.status == 303


def is_ok(result: Result) -> bool:
    return {PAGE: page_ok, PHOTO: photo_ok, STATIC: static_ok, POST: post_ok}[result.kind](result)


def photo_paths(result: Result) -> list[str]:
    """Photo URLs referenced by a feed page or API answer."""
    if result.status != 200:
        return []
    if result.path.startswith("/api/"):
        try:
            posts = json.loads(result.body).get("posts", [])
        except ValueError:
            return []
        return [post["photo_url"] for post in posts if post.get("photo_url")]
    return PHOTO_SRC.findall(result.body.decode("utf-8", "replace"))


@dataclass
class LoadSettings:
    readers: int = 2
    writers: int = 2
    reader_pause: float = 0.25  # seconds between two reader iterations
    photos_per_page: int = 2
    post_interval: float = 2.0  # seconds between two posts of one writer
    read_timeout: float = 15.0
    post_timeout: float = 30.0
    max_seconds: float = 120.0  # hard bounds: the load stops by itself
    max_requests: int = 6000


@dataclass
class Load:
    """Start with start(); stop() (or the bounds) ends it; results/posts are then final."""

    base_url: str
    tag: str  # goes into every post marker (case name, run id)
    settings: LoadSettings = field(default_factory=LoadSettings)

    def __post_init__(self):
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._known_photos: list[str] = []

    # -- control ------------------------------------------------------------------------------
    def start(self) -> Load:
        self._deadline = time.monotonic() + self.settings.max_seconds
        for index in range(self.settings.readers):
            self._spawn(f"reader-{index}", self._reader, index)
        for index in range(self.settings.writers):
            self._spawn(f"writer-{index}", self._writer, index)
        return self

    def stop(self) -> None:
        self._stop.set()
        slowest = max(self.settings.read_timeout, self.settings.post_timeout) + 5
        for thread in self._threads:
            thread.join(slowest)

    # -- results ------------------------------------------------------------------------------
    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)

    @property
    def posts(self) -> list[Result]:
        return [result for result in self.snapshot() if result.kind == POST]

    # -- workers ------------------------------------------------------------------------------
    def _spawn(self, name, target, index):
        thread = threading.Thread(target=target, args=(index,), name=f"load-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _running(self) -> bool:
        if self._stop.is_set() or time.monotonic() >= self._deadline:
            return False
        with self._lock:
            return len(self.results) < self.settings.max_requests

    def _record(self, result: Result) -> Result:
        with self._lock:
            self.results.append(result)
        return result

    def _reader(self, index: int) -> None:
        rng = random.Random(f"{self.tag}-{index}")
        iteration = index
        while self._running():
            page_path = PAGE_PATHS[iteration % len(PAGE_PATHS)]
            page_path = uncached_page() if page_path == UNCACHED_PAGE_PREFIX else page_path
            page = self._record(
                fetch(self.base_url, "GET", page_path, kind=PAGE, timeout=self.settings.read_timeout)
            )
            found = photo_paths(page)
            if found:
                with self._lock:
                    self._known_photos = found
            else:
                with self._lock:  # feed unavailable: keep exercising photos seen before
                    found = list(self._known_photos)
            for photo in rng.sample(found, min(self.settings.photos_per_page, len(found))):
                if not self._running():
                    return
                self._record(
                    fetch(self.base_url, "GET", photo, kind=PHOTO, timeout=self.settings.read_timeout)
                )
            if not self._running():
                return
            static = list(STATIC_FILES)[iteration % len(STATIC_FILES)]
            self._record(fetch(self.base_url, "GET", static, kind=STATIC, timeout=self.settings.read_timeout))
            iteration += 1
            self._stop.wait(self.settings.reader_pause)

    def _writer(self, index: int) -> None:
        # Writers start staggered so posts arrive at an even pace.
        self._stop.wait(self.settings.post_interval * index / max(1, self.settings.writers))
        sequence = 0
        next_at = time.monotonic()
        while self._running():
            marker = f"fo-{self.tag}-w{index}-{sequence}-{uuid.uuid4().hex[:8]}"
            path = "/upload" if sequence % 2 == 0 else "/upload.php"
            self._record(
                post_photo(
                    self.base_url,
                    f"failover probe {marker}",
                    small_jpeg(hash(marker)),
                    path=path,
                    marker=marker,
                    timeout=self.settings.post_timeout,
                )
            )
            sequence += 1
            next_at += self.settings.post_interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


# -- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
