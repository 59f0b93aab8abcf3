"""A private nginx on a free loopback port (tests and benchmark), and S1's feed cache in front of an app.

    with NginxServer(lambda server: f"location / {{ root {server.prefix}; }}") as nginx: ...
    with CachedBalancer("http://127.0.0.1:8000") as nginx: urlopen(nginx.url + "/")

`CachedBalancer` renders the cache directives from the nginx_balancer role's own templates and
defaults, so what is measured or tested here is what S1 runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jinja2
import yaml

from extagram_testing.mariadb_server import free_port
from extagram_testing.throwaway_ca import ThrowawayCA

ROLE_DIR = Path(__file__).resolve().parents[2] / "roles" / "nginx_balancer"
START_TIMEOUT_SECONDS = 10


class NginxServer:
    """nginx with its own prefix; `server_block(self)` returns the body of its one server block."""

    def __init__(
        self,
        server_block: Callable[[NginxServer], str],
        http_block: Callable[[NginxServer], str] | None = None,
        probe_path: str = "/",
        tls: ThrowawayCA | None = None,
    ) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="extagram-nginx-"))
        os.chmod(self.prefix, 0o755)  # workers run as an unprivileged user when started by root
        self.port = free_port()
        self._tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._probe_url = self.url + probe_path
        self._probe_context = tls.ssl_context() if tls else None  # loads the CA file once
        http_extra = http_block(self) if http_block else ""
        (self.prefix / "nginx.conf").write_text(self._config(server_block(self), http_extra))
        self._process: subprocess.Popen | None = None

    def _config(self, server_block: str, http_extra: str) -> str:
        return f"""
daemon off;
worker_processes 2;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {self.prefix}/client_body;
    proxy_temp_path {self.prefix}/proxy;
    {http_extra}
    server {{
        listen 127.0.0.1:{self.port}{" ssl http2" if self._tls else ""};
        {server_block}
    }}
}}
"""

    def __enter__(self) -> NginxServer:
        nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
        self._process = subprocess.Popen(
            [nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self.prefix / "error.log").read_text() if (self.prefix / "error.log").exists() else ""
                self.__exit__()
                raise RuntimeError(f"nginx did not start: {log[-500:]}")
            time.sleep(0.1)
        return self

    @property
    def master_pid(self) -> int:
        return self._process.pid

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self._probe_url, timeout=1, context=self._probe_context).close()
        except urllib.error.HTTPError:
            return True  # an error page is an answer: nginx is up
        except OSError:
            return False
        return True

    def __exit__(self, *_exc) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


def render_role_template(name: str, **overrides: object) -> str:
    """One of nginx_balancer's cache templates, with the role's defaults and `overrides`."""
    defaults = yaml.safe_load((ROLE_DIR / "defaults" / "main.yml").read_text())
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE_DIR / "templates"), undefined=jinja2.StrictUndefined
    )
    return environment.get_template(f"etc/nginx/conf.d/{name}").render({**defaults, **overrides})


class CachedBalancer(NginxServer):
    """S1's feed locations (with the microcache), compression, its 404 for /metrics and its access log
    (`access_log`, in S1's format) in front of `upstream_url`; everything else passes. With `tls`,
    over HTTPS with S1's TLS settings and that CA's certificate."""

    def __init__(self, upstream_url: str, tls: ThrowawayCA | None = None) -> None:
        proxy = f'proxy_pass {upstream_url}; proxy_http_version 1.1; proxy_set_header Connection "";'
        page_cache = render_role_template("feed-cache-location.j2", feed_query_check="extagram_page_query_ok")
        api_cache = render_role_template("feed-cache-location.j2", feed_query_check="extagram_api_query_ok")

        compression = render_role_template("compression.j2")
        not_public = render_role_template("not-public.j2")
        https = render_role_template("tls.j2", nginx_balancer_tls_dir=str(tls.directory)) if tls else ""

        def server_block(_server: NginxServer) -> str:
            return f"""
            {https}
            {compression}
            add_header X-Cache-Status $upstream_cache_status always;
            access_log {self.access_log} extagram_upstream;
            {not_public}
            location = / {{ {proxy} {page_cache} }}
            location = /extagram.php {{ {proxy} {page_cache} }}
            location /api/ {{ {proxy} {api_cache} }}
            location / {{ {proxy} client_max_body_size 20m; }}
            """

        def http_block(server: NginxServer) -> str:
            cache_dir = str(server.prefix / "cache")
            return render_role_template(
                "feed-cache-zone.j2", nginx_balancer_cache_dir=cache_dir
            ) + render_role_template("access-log-format.j2")

        # Made in the prefix NginxServer creates, before nginx starts.
        self.access_log = Path("/nonexistent")

        def server_block_with_log(server: NginxServer) -> str:
            self.access_log = server.prefix / "access.log"
            return server_block(server)

        # Probing / would put a copy of the page in the cache before the caller's first request.
        super().__init__(server_block_with_log, http_block, probe_path="/healthz", tls=tls)
