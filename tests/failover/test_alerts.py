"""Monitoring under a real outage: a feed node's VM halted raises FeedNodeUnreachable within two
minutes, Alertmanager delivers it to the lab's receiver, and the alert clears once the node is
back (docs/monitoring.md). `pytest tests/failover -k feed_node_down` runs it alone.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from extagram_failover import labctl, report
from extagram_lab import inventory

ALERT = "FeedNodeUnreachable"
# The bound. The rule waits 1 min (`for`); a scrape and an evaluation (15 s each) come first.
FIRE_WITHIN_S = 120
# After the node answers SSH: its exporters' next scrape, one evaluation, and the boot's last units.
RESOLVE_WITHIN_S = 120
RECEIVED_FILE = "/var/lib/extagram-alert-receiver/alerts.jsonl"
MONITORING = inventory.group("monitoring")[0]


def firing(node: str) -> bool:
    """Prometheus fires the alert for this node now (its own API, from the controller)."""
    url = f"http://{MONITORING.address}:9090/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=10) as answer:
        alerts = json.load(answer)["data"]["alerts"]
    return any(
        alert["labels"].get("alertname") == ALERT
        and alert["labels"].get("instance") == node
        and alert["state"] == "firing"
        for alert in alerts
    )


def received(node: str, after_line: int, status: str = "firing") -> bool:
    """The lab's receiver recorded the alert for this node in this status, after the first lines."""
    code, out = labctl.ssh(MONITORING.name, f"sudo tail -n +{after_line + 1} {RECEIVED_FILE}", timeout=30)
    if code != 0:
        raise labctl.LabError(f"cannot read {RECEIVED_FILE}: {out[-300:]}")
    # One line per POST: {"received": ..., "path": ..., "body": Alertmanager's webhook payload}.
    deliveries = [json.loads(line)["body"] for line in out.splitlines() if line.startswith("{")]
    return any(
        alert["labels"].get("alertname") == ALERT
        and alert["labels"].get("instance") == node
        and alert["status"] == status
        for delivery in deliveries
        for alert in delivery.get("alerts", [])
    )


def receiver_lines() -> int:
    code, out = labctl.ssh(MONITORING.name, f"sudo sh -c 'touch {RECEIVED_FILE}; wc -l < {RECEIVED_FILE}'")
    if code != 0:
        raise labctl.LabError(f"cannot count {RECEIVED_FILE}: {out[-300:]}")
    return int(out.split()[-1])


@pytest.mark.parametrize("node", [inventory.group("feed")[0].name], ids=lambda name: f"{name}-down")
def test_feed_node_down_fires_within_two_minutes_and_clears(node, site, results):
    row = report.CaseRow(results, f"{node}-halt-alert")
    site.wait_healthy(timeout=180)
    try:
        labctl.wait_for(lambda: not firing(node), timeout=180, interval=5, what=f"no {ALERT} for {node}")
        lines = receiver_lines()
        halted = time.monotonic()
        labctl.halt(node)
        try:
            labctl.wait_for(lambda: firing(node), FIRE_WITHIN_S + 60, interval=2, what=f"{ALERT} for {node}")
            fired = time.monotonic() - halted
            labctl.wait_for(
                lambda: received(node, lines), 120, interval=3, what=f"the receiver to record {ALERT}"
            )
            delivered = time.monotonic() - halted
        finally:
            row["boot"] = f"{labctl.start(node):.0f}"
        _, cleared = labctl.wait_for(
            lambda: not firing(node), RESOLVE_WITHIN_S + 60, interval=2, what=f"{ALERT} to clear"
        )
        row["recover"] = f"{cleared:.0f}"
        back = time.monotonic() - cleared
        labctl.wait_for(
            lambda: received(node, lines, "resolved"),
            120,
            interval=3,
            what=f"the receiver to record {ALERT} resolved",
        )
        row.note(
            f"{ALERT} firing {fired:.0f}s after the halt (bound {FIRE_WITHIN_S}s), at the receiver "
            f"{delivered:.0f}s after it; cleared {cleared:.0f}s after {node} answered SSH "
            f"(bound {RESOLVE_WITHIN_S}s), resolved at the receiver {time.monotonic() - back:.0f}s after it"
        )
        row.expect(fired <= FIRE_WITHIN_S, f"{ALERT} fired {fired:.0f}s after the halt")
        row.expect(cleared <= RESOLVE_WITHIN_S, f"{ALERT} cleared {cleared:.0f}s after {node} was back")
        site.wait_healthy(timeout=300, with_post=True, tag=f"{node}-alert")
    except labctl.LabError as error:
        row.problems.append(str(error))
    problems = row.conclude()
    assert not problems, "\n".join(problems)
