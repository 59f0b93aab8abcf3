"""A small caching HTTP proxy for the guests' apt, listening on a unix socket.

It runs in the machine's main network namespace (which may reach Debian's
mirror) while the guests live in the lab namespace (which has no route out);
socat in the namespace forwards guest TCP connections to this socket. Package
files (.deb) never change under one name, so they are cached on disk and
shared by all seven VMs; index files always go upstream.
"""

import hashlib
import http.client
import http.server
import os
import pathlib
import socketserver
import sys
import urllib.parse

ALLOWED_HOSTS = {"deb.debian.org", "security.debian.org"}
CHUNK = 64 * 1024


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    cache_dir: pathlib.Path = pathlib.Path(".")

    def address_string(self):  # unix sockets have no peer address
        return "guest"

    def log_message(self, fmt, *args):
        sys.stderr.write("apt-proxy: " + fmt % args + "\n")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or url.hostname not in ALLOWED_HOSTS:
            self.send_error(403, "only Debian's mirror is proxied")
            return
        cached = self.cache_dir / hashlib.sha256(self.path.encode()).hexdigest()
        if url.path.endswith(".deb") and cached.exists():
            self._send_file(cached)
            return
        upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
        path = url.path + ("?" + url.query if url.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() in {"range", "if-modified-since"}}
        upstream.request("GET", path, headers=headers)
        response = upstream.getresponse()
        cacheable = url.path.endswith(".deb") and response.status == 200
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in {"connection", "transfer-encoding", "keep-alive"}:
                self.send_header(key, value)
        self.end_headers()
        partial = cached.with_suffix(f".{os.getpid()}.{id(self)}.part")
        sink = partial.open("wb") if cacheable else None
        try:
            while chunk := response.read(CHUNK):
                self.wfile.write(chunk)
                if sink:
                    sink.write(chunk)
        finally:
            upstream.close()
            if sink:
                sink.close()
                partial.rename(cached)

    def _send_file(self, path):
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.end_headers()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                self.wfile.write(chunk)


class UnixProxy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(socket_path, cache_dir):
    ProxyHandler.cache_dir = pathlib.Path(cache_dir)
    ProxyHandler.cache_dir.mkdir(parents=True, exist_ok=True)
    pathlib.Path(socket_path).unlink(missing_ok=True)
    with UnixProxy(socket_path, ProxyHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
