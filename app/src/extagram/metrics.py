"""The app's own metrics for Prometheus (docs/monitoring.md has each one and its labels).

Every label value comes from a fixed set: the route is the Flask endpoint that answered (never
the path), the method one of GET, HEAD, POST or "other", the status the code the app sent, the
reasons constants of errors.py and read_source.py. No visitor can add a series.

Under Gunicorn the workers share their counts through prometheus_client's multiprocess files
(metrics_files.py); views/metrics.py serves them on the metrics port only.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from extagram import errors, metrics_files, read_source, store
from extagram.db import UNAVAILABLE_ERRORS, get_db

# From a fast feed page to the worker's timeout (30 s): where the app's answers fall.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_METHODS = frozenset({"GET", "HEAD", "POST"})
# The route of a request no rule matched (an unknown path, a method the path does not take).
NO_ROUTE = "none"

HTTP_REQUESTS = Counter(
    "extagram_http_requests",
    "Requests the app answered, by route (Flask endpoint), method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "extagram_http_request_duration_seconds",
    "Time from the request reaching Flask to its answer, by route (Flask endpoint).",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
UPLOADS_ACCEPTED = Counter(
    "extagram_uploads_accepted",
    "Posts published, with a photo (photo=yes) or text only (photo=no).",
    ["photo"],
)
UPLOADS_REFUSED = Counter(
    "extagram_uploads_refused",
    "Posts refused by the app, by reason (S1's own refusals, 413 and 429, never reach it).",
    ["reason"],
)
DB_READS = Counter(
    "extagram_db_reads",
    "Requests that read the database, by where the reads went (replica or primary) and why.",
    ["source", "reason"],
)


def init_app(app: Flask) -> None:
    if app.config["EXTAGRAM"].mode != "feed":
        # Every series of the upload node exists from its start, at 0: rate() needs a first value.
        for photo in ("yes", "no"):
            UPLOADS_ACCEPTED.labels(photo)
        for reason in errors.REFUSAL_REASONS:
            UPLOADS_REFUSED.labels(reason)
    app.before_request(_start_clock)
    app.after_request(_count_request)


def on_metrics_port() -> bool:
    """Did this request arrive on the metrics port? (Gunicorn sets SERVER_PORT to its listener's.)"""
    port = current_app.config["EXTAGRAM"].metrics_port
    return bool(port) and request.environ.get("SERVER_PORT") == str(port)


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    if on_metrics_port():
        return response  # Prometheus's scrapes are not the site's traffic
    route = request.url_rule.endpoint if request.url_rule is not None else NO_ROUTE
    method = request.method if request.method in _METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    started = g.pop("metrics_started", None)
    if started is not None:
        HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
    source = read_source.chosen_source()
    if source is not None:
        DB_READS.labels(source, read_source.chosen_reason()).inc()
    return response


def upload_accepted(with_photo: bool) -> None:
    UPLOADS_ACCEPTED.labels("yes" if with_photo else "no").inc()


def upload_refused(reason: str) -> None:
    UPLOADS_REFUSED.labels(reason if reason in errors.REFUSAL_REASONS else errors.OTHER).inc()


def exposition() -> Response:
    """Every worker's counts (or this process's, without the multiprocess directory), then the
    photo storage gauges on the nodes that take uploads."""
    path = metrics_files.directory()
    if path is None:
        body = generate_latest(REGISTRY)
    else:
        registry = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(registry, path)
        with metrics_files.reading(path):
            body = generate_latest(registry)
    config = current_app.config["EXTAGRAM"]
    if config.mode != "feed":
        storage = CollectorRegistry(auto_describe=True)
        storage.register(_Families(_photo_storage(config.max_photo_storage_bytes)))
        body += generate_latest(storage)
    # The text format Debian's Prometheus 2.42 knows (metric names as before, no UTF-8 quoting).
    return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def _photo_storage(limit_bytes: int) -> list[GaugeMetricFamily]:
    """Read at each scrape from the one row the cap is checked against: right after a restore or
    a restart too. Without the primary only the limit is given (PrimaryDown says why)."""
    families = [
        GaugeMetricFamily(
            "extagram_photo_storage_limit_bytes",
            "Photo bytes all posts may store together (max_photo_storage_bytes); beyond, photos get 507.",
            value=limit_bytes,
        )
    ]
    try:
        stored = store.photo_storage_bytes(get_db())
    except UNAVAILABLE_ERRORS as error:
        current_app.logger.warning("metrics: photo storage not read, the database is unavailable: %s", error)
        return families
    if stored is not None:
        families.append(
            GaugeMetricFamily(
                "extagram_photo_storage_bytes",
                "Photo bytes all posts store together (the photo_storage row, read at each scrape).",
                value=stored,
            )
        )
    return families


class _Families:
    """A collector of metric families read beforehand."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families
