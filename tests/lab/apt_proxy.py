"""A small caching HTTP proxy for the guests' apt, listening on a unix socket.

It runs in the machine's main network namespace (which may reach Debian's
mirror) while the guests live in the lab namespace (which has no route out);
socat in the namespace forwards guest TCP connections to this socket. Package
files (.deb) never change under one name, so they are cached on disk and
shared by all seven VMs; index files always go upstream. Only a download that
arrived whole (as long as its Content-Length says) enters the cache: a cut
transfer must not become the file every VM is served.

    python -m extagram_lab.apt_proxy SOCKET CACHE_DIR
"""

import hashlib
import http.client
import http.server
import os
import pathlib
import socketserver
import sys
import urllib.parse

DEBIAN_MIRRORS = frozenset({"deb.debian.org", "security.debian.org"})
CHUNK = 64 * 1024
FORWARDED_REQUEST_HEADERS = {"range", "if-modified-since"}
HOP_BY_HOP_HEADERS = {"connection", "transfer-encoding", "keep-alive"}


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: "AptProxy"

    def address_string(self):  # unix sockets have no peer address
        return "guest"

    def log_message(self, fmt, *args):
        sys.stderr.write("apt-proxy: " + fmt % args + "\n")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or not self.server.allows(url):
            self.send_error(403, "only Debian's mirror is proxied")
            return
        is_package = url.path.endswith(".deb")
        cached = self.server.cache_path(self.path)
        if is_package and cached.exists():
            self._send_file(cached)
            return
        upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
        try:
            response = self._ask_upstream(upstream, url)
            self._relay_headers(response)
            if is_package and response.status == 200:
                self._relay_and_cache(response, cached)
            else:
                _copy(response, self.wfile)
        finally:
            upstream.close()

    def _ask_upstream(self, upstream, url):
        headers = {
            key: value for key, value in self.headers.items() if key.lower() in FORWARDED_REQUEST_HEADERS
        }
        upstream.request("GET", url.path + ("?" + url.query if url.query else ""), headers=headers)
        return upstream.getresponse()

    def _relay_headers(self, response):
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP_HEADERS:
                self.send_header(key, value)
        self.end_headers()

    def _relay_and_cache(self, response, cached):
        """Stream the body to the guest; keep it as `cached` only if it arrived whole."""
        expected = response.getheader("Content-Length")
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.{id(self)}.part")
        try:
            with partial.open("wb") as copy:
                _copy(response, self.wfile, copy)
            arrived = partial.stat().st_size
            if expected is not None and arrived == int(expected):
                partial.rename(cached)
            else:
                self.log_message("not cached, %s of %s bytes arrived: %s", arrived, expected, self.path)
        finally:
            partial.unlink(missing_ok=True)

    def _send_file(self, path):
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.end_headers()
        with path.open("rb") as source:
            _copy(source, self.wfile)


def _copy(source, *sinks):
    while chunk := source.read(CHUNK):
        for sink in sinks:
            sink.write(chunk)


class AptProxy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The proxy on `socket_path`, forwarding only to `upstream_hosts` on `upstream_port`."""

    daemon_threads = True

    def __init__(self, socket_path, cache_dir, upstream_hosts=DEBIAN_MIRRORS, upstream_port=80):
        self.cache_dir = pathlib.Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.upstream_hosts = frozenset(upstream_hosts)
        self.upstream_port = upstream_port
        pathlib.Path(socket_path).unlink(missing_ok=True)
        super().__init__(str(socket_path), ProxyHandler)

    def allows(self, url):
        return url.hostname in self.upstream_hosts and (url.port or 80) == self.upstream_port

    def cache_path(self, url):
        return self.cache_dir / hashlib.sha256(url.encode()).hexdigest()


def main(socket_path, cache_dir):
    with AptProxy(socket_path, cache_dir) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
