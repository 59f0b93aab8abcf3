"""The app's metrics (docs/monitoring.md), read the way Prometheus reads them.

Under a real Gunicorn with several workers: /metrics on the metrics port only, requests counted by
route whichever worker answered, uploads accepted and refused by reason, the photo storage gauges,
and the counts of ended workers kept while their files are folded away (the role's own
gunicorn.conf.py). In-process: a feed node's reads by source on a real replica. S1's 404.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import jinja2
import pytest
import requests
from app_helpers import out_of_connections
from prometheus_client.parser import text_string_to_metric_families
from replica_helpers import Replication

from extagram import create_app
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import free_port, settings_env
from extagram_testing.mtail import MTAIL, requests_by_labels, run_balancer_program
from extagram_testing.sample_images import image_bytes

ROLE_TEMPLATES = Path(__file__).resolve().parents[2] / "roles/extagram_app/templates"


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, its labels): value} of a Prometheus text answer at `url`."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_served_on_the_metrics_port_only(app_server):
    assert scrape(app_server.metrics_url)
    on_app_port = requests.get(f"{app_server.url}/metrics", timeout=10)
    assert on_app_port.status_code == 404
    assert "extagram_http" not in on_app_port.text
    metrics_root = app_server.metrics_url.removesuffix("/metrics")
    assert requests.get(f"{metrics_root}/", timeout=10).status_code == 404
    assert requests.get(f"{metrics_root}/healthz", timeout=10).status_code == 404
    assert requests.post(app_server.metrics_url, timeout=10).status_code == 404


def test_requests_are_counted_by_route_method_and_status(app_server, db):
    db.add_posts(3)
    for _ in range(20):
        assert requests.get(f"{app_server.url}/", timeout=10).status_code == 200
    for _ in range(10):
        assert requests.get(f"{app_server.url}/api/posts", timeout=10).status_code == 200
    for number in range(3):
        assert requests.get(f"{app_server.url}/nothing/{number}", timeout=10).status_code == 404
    assert requests.request("BREW", f"{app_server.url}/", timeout=10).status_code == 405

    samples = scrape(app_server.metrics_url)
    requests_total = "extagram_http_requests_total"
    assert value(samples, requests_total, route="feed.index", method="GET", status="200") == 20
    assert value(samples, requests_total, route="feed.api_posts", method="GET", status="200") == 10
    # Unknown paths share one route, whatever they were: a visitor cannot add series.
    assert value(samples, requests_total, route="none", method="GET", status="404") == 3
    assert value(samples, requests_total, route="none", method="other", status="405") == 1
    assert not any("nothing" in str(labels) or "BREW" in str(labels) for _name, labels in samples)
    duration = "extagram_http_request_duration_seconds"
    assert value(samples, f"{duration}_count", route="feed.index") == 20
    assert value(samples, f"{duration}_bucket", route="feed.index", le="+Inf") == 20
    assert 0 < value(samples, f"{duration}_sum", route="feed.index") < 20 * 30
    # The scrapes themselves are not the site's traffic.
    scrape(app_server.metrics_url)
    assert all(dict(labels).get("route") != "metrics" for _name, labels in scrape(app_server.metrics_url))


def upload(server: GunicornServer, text: str | None = "hello", photo: bytes | None = None, **headers):
    files = {"photo": ("photo.png", photo, "image/png")} if photo is not None else None
    data = {"post": text} if text is not None else {}
    return requests.post(
        f"{server.url}/upload", data=data, files=files, headers=headers, allow_redirects=False, timeout=30
    )


def test_uploads_are_counted_accepted_and_refused_by_reason(app_server, db):
    before = scrape(app_server.metrics_url)
    # Every reason exists from the start, at 0.
    assert value(before, "extagram_uploads_refused_total", reason="database_down") == 0
    assert ("extagram_uploads_refused_total", frozenset({("reason", "database_down")})) in before

    assert upload(app_server, "just words").status_code == 303
    assert upload(app_server, "with a photo", image_bytes("PNG", size=(32, 32))).status_code == 303
    assert upload(app_server, "   ").status_code == 400
    assert upload(app_server, "x" * 1001).status_code == 400
    assert upload(app_server, "not a photo", b"plain text, not an image").status_code == 415
    assert upload(app_server, "too big", b"\0" * (11 * 1024 * 1024)).status_code == 413
    assert upload(app_server, "from elsewhere", **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    db.query("UPDATE photo_storage SET stored_bytes = %s", (2 * 1024**3,))
    assert upload(app_server, "no room", image_bytes("PNG", size=(32, 32))).status_code == 507
    with out_of_connections(db.server):
        assert upload(app_server, "no database").status_code == 503

    after = scrape(app_server.metrics_url)
    assert value(after, "extagram_uploads_accepted_total", photo="no") == 1
    assert value(after, "extagram_uploads_accepted_total", photo="yes") == 1
    refused = {
        dict(labels)["reason"]: count
        for (name, labels), count in after.items()
        if name == "extagram_uploads_refused_total" and count
    }
    assert refused == {
        "no_text": 1,
        "text_too_long": 1,
        "not_an_image": 1,
        "too_large": 1,
        "cross_site": 1,
        "storage_full": 1,
        "database_down": 1,
    }


def test_photo_storage_gauges_read_the_stored_bytes_and_the_cap(app_server, db):
    assert upload(app_server, "a photo", image_bytes("PNG", size=(40, 40))).status_code == 303
    [(stored,)] = db.query("SELECT stored_bytes FROM photo_storage")
    assert stored > 0
    samples = scrape(app_server.metrics_url)
    assert value(samples, "extagram_photo_storage_bytes") == stored
    assert value(samples, "extagram_photo_storage_limit_bytes") == 2 * 1024**3

    # Without the database the limit is still given, the stored bytes are not (no made-up 0).
    with out_of_connections(db.server):
        samples = scrape(app_server.metrics_url)
    assert value(samples, "extagram_photo_storage_limit_bytes") == 2 * 1024**3
    assert ("extagram_photo_storage_bytes", frozenset()) not in samples


def feed_metrics(client) -> dict[tuple[str, frozenset], float]:
    """The in-process app's /metrics, asked on its metrics port."""
    port = client.application.config["EXTAGRAM"].metrics_port
    answer = client.get("/metrics", base_url=f"http://localhost:{port}")
    assert answer.status_code == 200
    return parse(answer.get_data(as_text=True))


def reads(samples, source: str, reason: str) -> float:
    return value(samples, "extagram_db_reads_total", source=source, reason=reason)


def test_feed_reads_are_counted_by_source_and_reason(pair: Replication):
    """A stale replica (its SQL thread stopped) sends the reads to the primary, and says why."""
    client = create_app(pair.feed_settings(metrics_port=free_port())).test_client()
    # Counted once per request that read, by this process (no multiprocess directory here).
    before = feed_metrics(client)
    assert client.get("/").headers["X-Read-From"] == "replica"
    pair.on_replica("STOP SLAVE SQL_THREAD")
    try:
        pair.wait_for_status(lambda status: status["Slave_SQL_Running"] == "No", "stopped")
        assert client.get("/").headers["X-Read-From"] == "primary"
        assert client.get("/api/posts").headers["X-Read-From"] == "primary"
    finally:
        pair.start_replication()
    after = feed_metrics(client)
    assert reads(after, "replica", "fresh") - reads(before, "replica", "fresh") == 1
    assert reads(after, "primary", "stopped") - reads(before, "primary", "stopped") == 2
    # The feed node has no photo storage gauges: the upload node has the cap.
    assert not any(name.startswith("extagram_photo_storage") for name, _labels in after)


def render_gunicorn_config(tmp_path: Path, **settings) -> str:
    """roles/extagram_app's gunicorn.conf.py, rendered as Ansible would for these settings."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE_TEMPLATES), undefined=jinja2.StrictUndefined
    )
    environment.filters["to_json"] = json.dumps
    text = environment.get_template("etc/extagram/gunicorn.conf.py.j2").render(
        ansible_managed="test",
        inventory_hostname="test",
        extagram_app_mode="all",
        extagram_app_workers=2,
        extagram_app_threads=4,
        extagram_app_timeout=30,
        extagram_app_graceful_timeout=5,
        extagram_app_keepalive=2,
        extagram_app_balancer_addresses=[],
        **settings,
    )
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(text)
    return str(path)


def test_ended_workers_keep_their_counts_and_leave_no_files(db, uploads_dir, tmp_path):
    """Workers replaced every 10 requests (max_requests, the role's jitter): with the role's hook,
    every request stays counted and the directory holds the live workers' files and the archive."""
    config = render_gunicorn_config(
        tmp_path,
        extagram_app_bind_address="127.0.0.1",
        extagram_app_port=free_port(),
        extagram_app_metrics_port=free_port(),
        extagram_app_max_requests=10,
    )
    env = settings_env(db.settings("upload", mode="all", uploads_dir=str(uploads_dir)))
    with GunicornServer(env, workers=2, config_file=config) as server:
        served = 0
        for _ in range(60):
            # A worker on its way out may close a connection unanswered: S1 would ask again.
            with contextlib.suppress(requests.ConnectionError):
                served += requests.get(f"{server.url}/upload/status", timeout=10).status_code == 200
        directory = Path(server.metrics_dir)
        deadline = time.monotonic() + 10
        while len(list(directory.glob("counter_*.db"))) > 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        files = sorted(path.name for path in directory.glob("*.db"))
        samples = scrape(server.metrics_url)
        log = server.log()
    assert served >= 55, log[-2000:]
    assert "counter_archive.db" in files and "histogram_archive.db" in files, files
    assert len([name for name in files if name.startswith("counter_")]) <= 3, files
    assert value(
        samples, "extagram_http_requests_total", route="upload.status", method="GET", status="200"
    ) == (served)
    assert value(samples, "extagram_http_request_duration_seconds_count", route="upload.status") == served
    assert "not folded" not in log


def test_s1_answers_404_for_metrics_and_never_asks_the_app(s1, app_server):
    answer = urllib_get(f"{s1.url}/metrics")
    assert answer == 404
    assert urllib_get(f"{s1.url}/metrics?x=1") == 404
    samples = scrape(app_server.metrics_url)
    assert value(samples, "extagram_http_requests_total", route="none", method="GET", status="404") == 0


@pytest.mark.skipif(MTAIL is None, reason="mtail not installed (the Makefile's HOST_PACKAGES)")
def test_s1s_own_log_gives_its_cache_results_to_mtail(s1, db):
    """The lines a real nginx wrote in S1's log format, read by the program S1's mtail runs."""
    db.add_posts(2)
    assert urllib_get(f"{s1.url}/") == 200  # a miss: the feed node answers
    assert urllib_get(f"{s1.url}/") == 200  # within the second: S1's copy
    assert urllib_get(f"{s1.url}/api/posts") == 200
    assert urllib_get(f"{s1.url}/metrics") == 404
    counts = requests_by_labels(run_balancer_program(s1.access_log))
    assert counts[("feed", "MISS", "200")] == 2  # the page and the API, once each
    assert counts[("feed", "HIT", "200")] == 1
    assert counts[("none", "none", "404")] == 1


def urllib_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
