"""Role prometheus: every target the inventory implies is up, the rules are loaded, Alertmanager
is ready, both on the private address only, the dashboard renders.

Runs in roles/prometheus's scenario and in tests/topology.
"""

import json
import pathlib
import time

import yaml

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("monitoring")
PORT = 9090
ALERTMANAGER_PORT = 9093
RULES = pathlib.Path(__file__).parents[3] / "files/etc/prometheus/rules/extagram.yml"
JOBS = {
    "node": (shared_setting("extagram_shared_node_exporter_port"), ("all",)),
    "nginx": (shared_setting("extagram_shared_nginx_exporter_port"), ("balancer", "media", "assets")),
    "mysqld": (shared_setting("extagram_shared_mysqld_exporter_port"), ("database", "feed")),
    "extagram": (shared_setting("extagram_shared_app_metrics_port"), ("feed", "upload")),
    "mtail": (shared_setting("extagram_shared_mtail_port"), ("balancer",)),
}


def api(host, path, port=PORT):
    status, _, body = helpers.fetch(host, path, address=helpers.address(host), port=port)
    assert status == 200, body
    return json.loads(body)


def setting(host, name, default):
    return helpers.runner().get_variables(host.backend.host).get(name, default)


def test_both_run_on_the_private_address_only(host):
    helpers.assert_runs(host, "prometheus", "prometheus-alertmanager")
    helpers.assert_listens_on_private_address_only(host, PORT)
    helpers.assert_listens_on_private_address_only(host, ALERTMANAGER_PORT)
    # One Alertmanager: no cluster port anywhere.
    assert ":9094" not in host.check_output("ss -ltnuH")


def test_firewall_opens_them_to_the_named_sources_only(host):
    sources = setting(host, "prometheus_web_sources", [])
    helpers.assert_port_open_only_to(host, PORT, sources, "prometheus")
    helpers.assert_port_open_only_to(host, ALERTMANAGER_PORT, sources, "alertmanager")


def test_the_live_configurations_pass_their_checks(host):
    host.run_expect([0], "promtool check config /etc/prometheus/prometheus.yml")
    host.run_expect([0], "amtool check-config /etc/prometheus/alertmanager.yml")


def test_every_expected_target_is_up(host):
    expected = {(job, name) for job, (_port, groups) in JOBS.items() for name in helpers.hosts(*groups)}
    expected |= {("prometheus", host.backend.host), ("alertmanager", host.backend.host)}
    deadline = time.monotonic() + 90
    while True:
        targets = api(host, "/api/v1/targets")["data"]["activeTargets"]
        health = {
            (target["labels"]["job"], target["labels"]["instance"]): target["health"] for target in targets
        }
        if all(health.get(key) == "up" for key in expected) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert set(health) == expected
    assert {key: value for key, value in health.items() if value != "up"} == {}


def test_targets_are_the_private_addresses_and_ports(host):
    targets = api(host, "/api/v1/targets")["data"]["activeTargets"]
    for target in targets:
        job, name = target["labels"]["job"], target["labels"]["instance"]
        if job in JOBS:
            assert target["scrapeUrl"] == f"http://{helpers.address(name)}:{JOBS[job][0]}/metrics", target


def test_the_rules_are_loaded(host):
    deployed = yaml.safe_load(RULES.read_text())
    expected = {rule["alert"] for group in deployed["groups"] for rule in group["rules"]}
    loaded = api(host, "/api/v1/rules")["data"]["groups"]
    assert {rule["name"] for group in loaded for rule in group["rules"]} == expected
    assert all(rule["health"] == "ok" for group in loaded for rule in group["rules"]), loaded


def test_alertmanager_is_ready_and_sends_where_the_inventory_says(host):
    status, _, _ = helpers.fetch(host, "/-/ready", address=helpers.address(host), port=ALERTMANAGER_PORT)
    assert status == 200
    assert api(host, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    url = setting(host, "prometheus_alertmanager_webhook_url", "")
    config = yaml.safe_load(host.file("/etc/prometheus/alertmanager.yml").content_string)
    webhooks = [
        hook["url"] for receiver in config["receivers"] for hook in receiver.get("webhook_configs", [])
    ]
    assert webhooks == ([url] if url else [])


def test_the_dashboard_renders_every_section(host):
    status, _, page = helpers.fetch(host, "/consoles/extagram.html", address=helpers.address(host), port=PORT)
    assert status == 200, page
    assert "<h1>Extagram</h1>" in page
    assert "error executing template" not in page
    for section in ("alerts", "targets", "app", "balancer", "database", "backups"):
        assert f'<section id="{section}">' in page
    # Prometheus scrapes itself: this node has a row among the targets.
    assert f"<td>{host.backend.host}</td>" in page
    # The stylesheet it links, from Debian's package (/usr/share/prometheus/web/static).
    stylesheet = "/classic/static/bootstrap4/css/bootstrap.min.css"
    assert stylesheet in page
    status, _, _ = helpers.fetch(host, stylesheet, address=helpers.address(host), port=PORT, keep_body=False)
    assert status == 200
