"""Screenshots for the docs, taken from the real browser against the real stack."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from feed_page import publish_directly

from extagram_testing.mtail import MTAIL, MtailServer
from extagram_testing.prometheus_server import DASHBOARD, PROMETHEUS, PrometheusServer, Target, dashboard_page
from extagram_testing.sample_images import image_bytes
from extagram_testing.synthetic_exporter import SyntheticExporter, backup_targets, database_targets

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SAMPLE_POSTS = [
    ("Morning light over the harbour", "steelblue"),
    ("Lunch: the lemon tart was worth the queue", "gold"),
    ("Evening walk, the hills turned orange", "darkorange"),
]


def test_feed_screenshot(site, open_feed):
    post_ids = [
        publish_directly(site, text, image_bytes("JPEG", (640, 240), color=color), "photo.jpg")[0]
        for text, color in SAMPLE_POSTS
    ]
    feed = open_feed()
    feed.page.set_viewport_size({"width": 900, "height": 1500})  # the composer and three posts
    for post_id in post_ids:
        feed.wait_for_post(post_id)
        feed.wait_for_photo(post_id)
    feed.page.evaluate("window.scrollTo(0, 0)")
    assert_saved(feed.page.screenshot(path=str(screenshot_path("feed.png"))))


def screenshot_path(name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR / name


def assert_saved(png: bytes) -> None:
    assert png.startswith(b"\x89PNG")


@pytest.fixture
def prometheus(site) -> Iterator[PrometheusServer]:
    """Prometheus with the dashboard, scraping the local app and S1's mtail on the balancer's log (both
    labelled instance="local"), and synthetic series for what only the lab has: the databases
    (s7, s2, s3) and the backup nodes' facts (s5, s6, a backup 5 hours old)."""
    with contextlib.ExitStack() as running:
        mtail = running.enter_context(MtailServer(site.access_log))
        lab_only = database_targets() + backup_targets(time.time() - 5 * 3600)
        exporter = running.enter_context(SyntheticExporter(lab_only))
        app = Target("extagram", urlsplit(site.metrics_url).netloc, "local")
        balancer = Target("mtail", mtail.address, "local")
        yield running.enter_context(PrometheusServer([app, balancer, *exporter.targets()]))


def visit(site, open_feed, seconds: float) -> None:
    """A few pages through the balancer's cache and a 404, then the feed open (polling the API)."""
    for path in ("/", "/", "/api/posts", "/no-such-page"):
        requests.get(site.url + path, verify=site.ca_file, timeout=10)
    feed = open_feed()
    feed.page.wait_for_timeout(seconds * 1000)


@pytest.mark.skipif(PROMETHEUS is None or MTAIL is None, reason="prometheus or mtail not installed")
def test_dashboard_screenshot(site, open_feed, browser, prometheus):
    visit(site, open_feed, seconds=5)
    # Rates need two scrapes that saw the requests; mtail reads the log as nginx writes it.
    prometheus.wait_for_samples(3)
    for expr in (
        "sum(rate(extagram_balancer_requests_total[5m])) > 0",
        "sum(rate(extagram_http_requests_total[5m])) > 0",
    ):
        prometheus.wait_until(expr)
    dashboard_page(prometheus)

    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(prometheus.url + DASHBOARD)
    # Every value the picture shows came from a scrape (the page's sections: dashboard_page).
    for section in ("app", "balancer", "database", "backups"):
        assert "no data" not in page.locator(f"#{section}").inner_text().lower(), section
    assert_saved(page.screenshot(path=str(screenshot_path("dashboard.png")), full_page=True))
    context.close()
