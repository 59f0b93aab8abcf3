"""Failover suite fixtures: the site through S1, the results table, the lab left healthy.

Run it inside the lab namespace (the private addresses exist only there):
    .venv/bin/python tests/lab/lab.py run .venv/bin/pytest -q tests/failover
Knobs (environment): FAILOVER_BASE_URL (http://192.168.56.11), FAILOVER_BASELINE_S (8),
FAILOVER_FAILURE_S (20), FAILOVER_READERS (2), FAILOVER_WRITERS (2), FAILOVER_POST_INTERVAL (2).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labctl  # noqa: E402
import report  # noqa: E402
import topology  # noqa: E402

_ROWS_KEY = pytest.StashKey[list]()
_STARTED_KEY = pytest.StashKey[float]()


def pytest_configure(config):
    config.stash[_ROWS_KEY] = []
    config.stash[_STARTED_KEY] = time.monotonic()


@pytest.fixture(scope="session")
def results(pytestconfig) -> list[dict]:
    return pytestconfig.stash[_ROWS_KEY]


@pytest.fixture(scope="session")
def site() -> topology.Site:
    base_url = os.environ.get("FAILOVER_BASE_URL", "http://192.168.56.11")
    lab_site = topology.Site(base_url, run_id=secrets.token_hex(3))
    probe = lab_site.get("/", timeout=10)
    if probe.error:
        pytest.fail(f"S1 ({base_url}) unreachable: {probe.error}. Run the suite inside the lab "
                    "namespace: .venv/bin/python tests/lab/lab.py run .venv/bin/pytest -q "
                    "tests/failover", pytrace=False)
    try:
        lab_site.wait_healthy(timeout=180)
    except labctl.LabError as error:
        pytest.fail(f"the site is not healthy before the failover cases: {error}", pytrace=False)
    yield lab_site
    _leave_lab_running(lab_site)


def _leave_lab_running(lab_site: topology.Site) -> None:
    """Whatever happened, every VM is powered on and every unit started when the session ends."""
    for node, spec in lab_site.specs.items():
        try:
            if labctl.boot_id(node) is None:
                labctl.start(node)
            labctl.ssh(node, "sudo systemctl start " + " ".join(spec.units), timeout=120)
        except labctl.LabError as error:
            print(f"\nfailover: could not bring {node} back: {error}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _write_results_after_each_case(pytestconfig):
    """Keep results/latest.md current during a long run (tail it to follow the matrix)."""
    yield
    rows = pytestconfig.stash[_ROWS_KEY]
    if rows:
        report.write(rows, time.monotonic() - pytestconfig.stash[_STARTED_KEY])


def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(_ROWS_KEY, [])
    if not rows:
        return
    duration = time.monotonic() - config.stash[_STARTED_KEY]
    path = report.write(rows, duration)
    terminalreporter.section("failover results")
    terminalreporter.write_line(report.table(rows))
    terminalreporter.write_line(f"\n{report.machine()}; {duration / 60:.1f} min; "
                                f"details in {path}")
