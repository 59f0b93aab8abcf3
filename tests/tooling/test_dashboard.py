"""Role prometheus's console page (/consoles/extagram.html) rendered by Debian's real Prometheus.

Prometheus scrapes a synthetic exporter standing for the lab's nodes (every series of the
dashboard's names, at fixed rates and ratios), and one app target nobody answers, with a rule
firing for it.
"""

from __future__ import annotations

import re
import time

import pytest

from extagram_testing.mariadb_server import free_port
from extagram_testing.prometheus_server import PROMETHEUS, PrometheusServer, Target, dashboard_page
from extagram_testing.synthetic_exporter import (
    SyntheticExporter,
    SyntheticTarget,
    backup_targets,
    database_targets,
    histogram,
    series,
)

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian's package)")
BACKUP_AGE_SECONDS = 5 * 3600


def app_node(elapsed: float) -> str:
    """4 requests a second, 5 % of them 5xx; half the requests within 50 ms, 99 % within 250 ms."""
    count = 4 * elapsed
    requests = [
        ({"route": "feed.index", "method": "GET", "status": "200"}, 0.95 * count),
        ({"route": "feed.index", "method": "GET", "status": "500"}, 0.05 * count),
    ]
    buckets = {"0.01": 0.0, "0.05": 0.5 * count, "0.25": 0.99 * count, "+Inf": count}
    return series("extagram_http_requests_total", "counter", requests) + histogram(
        "extagram_http_request_duration_seconds", {"route": "feed.index"}, buckets
    )


def balancer(elapsed: float) -> str:
    """S1's mtail: the feed 80 % from the cache, uploads (never cached) 10 % 5xx."""
    requests = [
        ({"upstream": "feed", "cache": "HIT", "status": "200"}, 2.4 * elapsed),
        ({"upstream": "feed", "cache": "MISS", "status": "200"}, 0.6 * elapsed),
        ({"upstream": "upload", "cache": "none", "status": "200"}, 0.9 * elapsed),
        ({"upstream": "upload", "cache": "none", "status": "503"}, 0.1 * elapsed),
    ]
    latency = {"0.005": 0.5 * elapsed, "0.1": 0.99 * elapsed, "+Inf": elapsed}
    return series("extagram_balancer_requests_total", "counter", requests) + "".join(
        histogram("extagram_balancer_request_duration_seconds", {"upstream": upstream}, latency)
        for upstream in ("feed", "upload")
    )


# Fires at once for an app target that is down (the role's AppDown waits 2 minutes).
APP_DOWN_NOW = {
    "groups": [
        {
            "name": "test",
            "rules": [
                {"alert": "AppDown", "expr": 'up{job="extagram"} == 0', "labels": {"severity": "warning"}}
            ],
        }
    ]
}


def render(synthetic: list[SyntheticTarget], down: tuple[Target, ...] = ()) -> str:
    """The page once every target was scraped three times (`down`: targets nobody answers), with
    APP_DOWN_NOW."""
    with (
        SyntheticExporter(synthetic) as exporter,
        PrometheusServer([*exporter.targets(), *down], APP_DOWN_NOW) as server,
    ):
        server.wait_for_samples(3)
        return dashboard_page(server)


def section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def row(page: str, name: str, first_cell: str) -> str:
    """The text of the table row of section `name` whose first cell is `first_cell`, tags removed."""
    match = re.search(rf"<tr[^>]*>\s*<td>{re.escape(first_cell)}</td>(.*?)</tr>", section(page, name), re.S)
    assert match, section(page, name)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.fixture(scope="module")
def page() -> str:
    synthetic = [
        SyntheticTarget("extagram", "s2", app_node),
        SyntheticTarget("mtail", "s1", balancer),
        *database_targets(),
        *backup_targets(time.time() - BACKUP_AGE_SECONDS),
    ]
    # The upload node's app target, on a port nobody listens on: down.
    return render(synthetic, (Target("extagram", f"127.0.0.1:{free_port()}", "s4"),))


def test_the_app_row_shows_rate_errors_and_latency(page):
    cells = row(page, "app", "s2")
    assert re.match(r"\d+\.\d\d/s 5% 50ms 250ms$", cells), cells


def test_a_node_whose_app_is_down_shows_no_data_and_its_alert(page):
    assert row(page, "app", "s4") == "no data no data no data no data"
    assert row(page, "targets", "s4") == "extagram"  # the "down" column
    assert row(page, "alerts", "AppDown") == "s4 warning"


def test_the_balancer_rows_show_errors_and_the_cache(page):
    assert re.match(r"\d+\.\d\d/s 0% 5ms 100ms 80%$", row(page, "balancer", "feed"))
    assert re.match(r"\d+\.\d\d/s 10% 5ms 100ms not cached$", row(page, "balancer", "upload"))
    # Of all answers: 0.1 in 4 a second are 5xx, 2.4 in the 3 that went through the cache hits.
    assert re.match(r"\d+\.\d\d/s 2.5% 5ms 100ms 80%$", row(page, "balancer", "all"))


def test_the_databases_show_role_and_lag(page):
    assert row(page, "database", "s7") == "primary yes —"
    assert row(page, "database", "s2") == "replica yes 0s"
    assert row(page, "database", "s3") == "replica yes 2s"


def test_the_backups_show_their_age(page):
    for node in ("s5", "s6"):
        assert re.search(r"5h 0m \d+s$", row(page, "backups", node))


def test_the_targets_show_every_node(page):
    assert row(page, "targets", "s2") == "extagram mysqld"
    assert row(page, "targets", "s1") == "mtail"


def test_missing_facts_read_no_data():
    """Before any backup node wrote its fact, and with no database exporter or mtail at all."""
    page = render([SyntheticTarget("extagram", "s2", app_node)])
    assert "No data: no backup node has written" in section(page, "backups")
    assert "no data (S1's mtail not scraped yet)" in section(page, "balancer")
    assert "<td>" not in section(page, "database")
    assert "None." in section(page, "alerts")
