"""Role alert_receiver (the lab only): a hardened service on loopback that records each POST,
and, on the monitoring node, what Alertmanager sends it.

Runs in roles/alert_receiver's scenario and in tests/topology.
"""

import datetime
import json
import time
import uuid

import pytest

from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("alert_receiver")
PORT = 9099
RECORD = "/var/lib/extagram-alert-receiver/alerts.jsonl"


def recorded(host, marker, seconds):
    """The record's lines that hold `marker`, waiting up to `seconds` for one."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [line for line in host.run(f"cat {RECORD}").stdout.splitlines() if marker in line]
        if lines or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(3)


def test_runs_hardened_on_loopback_only(host):
    helpers.assert_runs(host, "extagram-alert-receiver")
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket(f"tcp://{helpers.address(host)}:{PORT}").is_listening
    shown = host.check_output(
        "systemctl show extagram-alert-receiver -p DynamicUser -p ProtectSystem -p NoNewPrivileges -p User"
    )
    assert {"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes"} <= set(shown.splitlines())
    assert helpers.fetch(host, "/healthz", port=PORT)[0] == 200


@pytest.mark.serial
def test_a_post_is_recorded(host):
    marker = uuid.uuid4().hex
    status, _, _ = helpers.fetch(
        host,
        "/test",
        "-X POST -H 'Content-Type: application/json'",
        f"""-d '{{"probe": "{marker}"}}'""",
        port=PORT,
    )
    assert status == 200
    [line] = recorded(host, marker, 0)
    assert line["path"] == "/test"
    assert line["body"] == {"probe": marker}


@pytest.mark.serial
def test_alertmanager_delivers_an_alert_to_it(host):
    if host.backend.host not in helpers.running("monitoring"):
        pytest.skip("Alertmanager runs on the monitoring node, not here")
    marker = uuid.uuid4().hex
    ends = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    alert = [{"labels": {"alertname": "ExtagramReceiverProbe", "probe": marker}, "endsAt": ends}]
    status, _, body = helpers.fetch(
        host,
        "/api/v2/alerts",
        "-X POST -H 'Content-Type: application/json'",
        f"-d '{json.dumps(alert)}'",
        address=helpers.address(host),
        port=9093,
    )
    assert status == 200, body
    # Alertmanager waits group_wait (30 s) before it sends a new group.
    [line] = recorded(host, marker, 120)
    assert line["body"]["status"] == "firing"
    assert line["body"]["alerts"][0]["labels"]["probe"] == marker
