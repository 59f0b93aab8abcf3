"""Failover suite fixtures: the site through S1, the results table, the lab left healthy.

Run it inside the lab namespace (the private addresses exist only there):
    .venv/bin/python tests/lab/lab.py run .venv/bin/pytest -q tests/failover
Knobs (environment): FAILOVER_BASE_URL (S1's address from the inventory), FAILOVER_BASELINE_S (8),
FAILOVER_FAILURE_S (20), FAILOVER_READERS (2), FAILOVER_WRITERS (2), FAILOVER_POST_INTERVAL (2).
"""

from __future__ import annotations

import os
import secrets
import sys
import time

import pytest

from extagram_failover import labctl, node_kinds, report
from extagram_failover.site_client import SITE_DOWN, SiteClient
from extagram_lab import inventory

_ROWS_KEY = pytest.StashKey[list]()
_STARTED_KEY = pytest.StashKey[float]()


def pytest_configure(config):
    config.stash[_ROWS_KEY] = []
    config.stash[_STARTED_KEY] = time.monotonic()


@pytest.fixture(scope="session")
def results(pytestconfig) -> list[dict]:
    return pytestconfig.stash[_ROWS_KEY]


@pytest.fixture(scope="session")
def site() -> SiteClient:
    base_url = os.environ.get("FAILOVER_BASE_URL", f"https://{inventory.balancer().address}")
    client = SiteClient(base_url, run_id=secrets.token_hex(3))
    probe = client.get("/", timeout=10)
    if probe.error:
        pytest.fail(
            f"S1 ({base_url}) unreachable: {probe.error}. Run the suite inside the lab "
            "namespace: .venv/bin/python tests/lab/lab.py run .venv/bin/pytest -q "
            "tests/failover",
            pytrace=False,
        )
    try:
        client.wait_healthy(timeout=180)
    except labctl.LabError as error:
        pytest.fail(f"the site is not healthy before the failover cases: {error}", pytrace=False)
    yield client
    _leave_lab_running()


def _leave_lab_running() -> None:
    """Whatever happened, every VM is powered on and every unit started when the session ends."""
    for node in node_kinds.nodes().values():
        try:
            if labctl.boot_id(node.name) is None:
                labctl.start(node.name)
            labctl.ssh(node.name, "sudo systemctl start " + " ".join(node.units), timeout=120)
        except labctl.LabError as error:
            print(f"\nfailover: could not bring {node.name} back: {error}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _write_results_after_each_case(pytestconfig):
    """Keep results/latest.md current during a long run (tail it to follow the matrix)."""
    yield
    rows = pytestconfig.stash[_ROWS_KEY]
    if rows:
        report.write(rows, time.monotonic() - pytestconfig.stash[_STARTED_KEY])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A site that stayed down past its bound stops the run: every later case would spend its
    preflight waiting for the same site (CI lost 25 minutes so on 2026-12-07) and prove nothing."""
    report_ = yield
    if report_.failed and SITE_DOWN in str(report_.longrepr):
        item.session.shouldstop = f"{SITE_DOWN}: the remaining cases were not run (see its error)"
    return report_


def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(_ROWS_KEY, [])
    if not rows:
        return
    duration = time.monotonic() - config.stash[_STARTED_KEY]
    path = report.write(rows, duration)
    terminalreporter.section("failover results")
    terminalreporter.write_line(report.table(rows))
    terminalreporter.write_line(f"\n{report.machine()}; {duration / 60:.1f} min; details in {path}")
