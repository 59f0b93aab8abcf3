"""Synthetic metrics of the lab's names over real HTTP, for a real Prometheus to scrape.

    with SyntheticExporter(database_targets() + backup_targets(time.time())) as exporter:
        targets = exporter.targets()   # for PrometheusServer: one path per node

Each synthetic target is a node's exporter: its page is made at each scrape from the seconds
since the exporter started, so counters grow at a fixed rate (a rate() to read) and ratios and
quantiles are exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from extagram_testing.prometheus_server import Target

Page = Callable[[float], str]  # seconds since the start -> Prometheus's text format


@dataclass(frozen=True)
class SyntheticTarget:
    job: str
    instance: str
    page: Page
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/{self.job}/{self.instance}"


def series(name: str, kind: str, samples: list[tuple[dict[str, str], float]]) -> str:
    """One metric family in Prometheus's text format."""
    lines = [f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{text}"' for key, text in labels.items())
        lines.append(f"{name}{{{label_text}}} {value}")
    return "\n".join(lines) + "\n"


def histogram(name: str, labels: dict[str, str], cumulative: dict[str, float]) -> str:
    """`cumulative`: each bucket's bound ("+Inf" last) and its count."""
    buckets = [({**labels, "le": bound}, count) for bound, count in cumulative.items()]
    # No _sum: nothing here reads the mean.
    return series(f"{name}_bucket", "counter", buckets) + series(
        f"{name}_count", "counter", [(labels, cumulative["+Inf"])]
    )


def database_targets() -> list[SyntheticTarget]:
    """The mysqld exporters of the lab: S7 the primary, S2 and S3 its replicas, S3 2 s behind."""

    def exporter(lag: float | None) -> Page:
        text = series("mysql_up", "gauge", [({}, 1)])
        if lag is not None:
            text += series("mysql_slave_status_seconds_behind_master", "gauge", [({}, lag)])
        return lambda _elapsed: text

    return [
        SyntheticTarget("mysqld", "s7", exporter(None), {"db_role": "primary"}),
        SyntheticTarget("mysqld", "s2", exporter(0), {"db_role": "replica"}),
        SyntheticTarget("mysqld", "s3", exporter(2), {"db_role": "replica"}),
    ]


def backup_targets(last_backup: float) -> list[SyntheticTarget]:
    """The backup nodes' (S5, S6) node exporters with role backup's textfile fact."""
    text = series("extagram_backup_last_success_timestamp_seconds", "gauge", [({}, last_backup)])
    return [SyntheticTarget("node", node, lambda _elapsed: text) for node in ("s5", "s6")]


class SyntheticExporter:
    def __init__(self, targets: list[SyntheticTarget]) -> None:
        self._pages = {target.path: target for target in targets}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.address = ""

    def targets(self) -> list[Target]:
        return [
            Target(target.job, self.address, target.instance, target.labels, path)
            for path, target in self._pages.items()
        ]

    def __enter__(self) -> SyntheticExporter:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pages = self._pages
        started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target = pages.get(self.path)
                if target is None:
                    self.send_error(404)
                    return
                body = target.page(time.monotonic() - started).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:  # Prometheus scrapes every second
                pass

        return Handler
