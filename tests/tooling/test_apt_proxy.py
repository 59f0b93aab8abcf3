"""The lab's apt proxy caches a package only when the whole file arrived.

A real upstream HTTP server on 127.0.0.1 serves a package whole, one cut in the middle of its
body and one without Content-Length; the proxy runs on a unix socket as in the lab.
"""

import collections
import contextlib
import http.server
import socket
import threading

import pytest

from extagram_lab import apt_proxy

PACKAGE = bytes(range(256)) * 800  # 200 KiB: several of the proxy's chunks
CUT_AFTER = 70_000


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    """Debian's mirror as the proxy sees it, with the two ways a download goes wrong."""

    server: "Upstream"

    def do_GET(self):
        self.server.hits[self.path] += 1
        self.send_response(200)
        if self.path != "/debian/pool/unsized.deb":
            self.send_header("Content-Length", str(len(PACKAGE)))
        self.end_headers()
        if self.path == "/debian/pool/cut.deb":
            self.wfile.write(PACKAGE[:CUT_AFTER])  # then the connection closes
        else:
            self.wfile.write(PACKAGE)

    def log_message(self, fmt, *args):
        pass


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.hits = collections.Counter()
        self.base_url = f"http://127.0.0.1:{self.server_port}"


@contextlib.contextmanager
def serving(server):
    """The server answering from a thread; it polls often, so the shutdown is quick."""
    with server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture
def upstream():
    with serving(Upstream()) as server:
        yield server


@pytest.fixture
def proxy(tmp_path, upstream):
    only_upstream = {"upstream_hosts": {"127.0.0.1"}, "upstream_port": upstream.server_port}
    with serving(apt_proxy.AptProxy(tmp_path / "apt.sock", tmp_path / "cache", **only_upstream)) as server:
        yield server


def fetch(proxy, url):
    """(status, headers, body) of one GET through the proxy, read until it closes the connection.

    The proxy closes only when its handler is done, so the cache is settled when this returns.
    """
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(10)
        connection.connect(proxy.server_address)
        connection.sendall(f"GET {url} HTTP/1.0\r\n\r\n".encode())
        raw = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def cached_files(proxy):
    return sorted(path.name for path in proxy.cache_dir.iterdir())


def test_a_whole_package_is_cached_then_served_from_the_cache(proxy, upstream):
    url = upstream.base_url + "/debian/pool/whole.deb"
    assert fetch(proxy, url)[::2] == (200, PACKAGE)
    assert proxy.cache_path(url).read_bytes() == PACKAGE

    status, headers, body = fetch(proxy, url)
    assert (status, body, headers["Content-Length"]) == (200, PACKAGE, str(len(PACKAGE)))
    assert upstream.hits["/debian/pool/whole.deb"] == 1


def test_a_cut_transfer_is_not_cached(proxy, upstream):
    url = upstream.base_url + "/debian/pool/cut.deb"
    status, headers, body = fetch(proxy, url)
    # The guest sees the promised length and a shorter body, so apt rejects the file.
    assert (status, headers["Content-Length"], len(body)) == (200, str(len(PACKAGE)), CUT_AFTER)
    assert cached_files(proxy) == []  # no entry, no leftover .part file

    fetch(proxy, url)
    assert upstream.hits["/debian/pool/cut.deb"] == 2


def test_a_package_of_unknown_length_is_not_cached(proxy, upstream):
    status, _headers, body = fetch(proxy, upstream.base_url + "/debian/pool/unsized.deb")
    assert (status, body) == (200, PACKAGE)
    assert cached_files(proxy) == []


def test_index_files_always_go_upstream(proxy, upstream):
    url = upstream.base_url + "/debian/dists/bookworm/InRelease"
    assert fetch(proxy, url)[::2] == fetch(proxy, url)[::2] == (200, PACKAGE)
    assert upstream.hits["/debian/dists/bookworm/InRelease"] == 2
    assert cached_files(proxy) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/debian/pool/x.deb",
        "http://127.0.0.1:9/debian/pool/x.deb",
        "https://127.0.0.1/debian/pool/x.deb",
    ],
)
def test_other_upstreams_are_refused(proxy, upstream, url):
    assert fetch(proxy, url)[0] == 403
    assert not upstream.hits
