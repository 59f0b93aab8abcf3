"""Role node_exporter: on every node, on its private address only, read by Prometheus alone.

Runs in roles/node_exporter's scenario and in tests/topology.
"""

import re

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("all")
PORT = shared_setting("extagram_shared_node_exporter_port")
TEXTFILE_DIR = shared_setting("extagram_shared_textfile_dir")
# Role pki's copy of the private CA, which role common trusts on every node.
CA = "/usr/local/share/ca-certificates/extagram-ca.crt"


def test_runs_without_the_recommended_collectors(host):
    assert not host.package("prometheus-node-exporter-collectors").is_installed


def test_listens_privately_and_only_the_monitoring_node_gets_in(host):
    helpers.assert_exporter_private(host, "prometheus-node-exporter", PORT, "node_exporter")


def test_another_node_cannot_reach_it(host):
    others = [name for name in helpers.running("all") if name not in helpers.running("monitoring")]
    others = [name for name in others if name != host.backend.host]
    if not others:
        pytest.skip("no node outside the monitoring group besides this one")
    probe = f"timeout 3 bash -c '</dev/tcp/{helpers.address(host)}/{PORT}'"
    assert helpers.node(others[0]).run(probe).rc != 0


def test_publishes_the_textfile_facts_and_the_backup_unit_only(host):
    body = helpers.scrape(host, PORT)
    assert "node_textfile_scrape_error 0" in body
    units = set(re.findall(r'^node_systemd_unit_state\{[^}]*name="([^"]+)"', body, re.MULTILINE))
    if host.backend.host in helpers.hosts("backup"):
        assert units == {"extagram-backup.service"}, units
    else:
        assert units <= {"extagram-backup.service"}, units


def test_publishes_the_end_of_every_certificate_role_pki_placed(host):
    """The CA on every node (role common), each service's certificate on its node (S1's HTTPS,
    the database nodes'): each fact as its certificate says, and served as written."""
    helpers.assert_certificate_end_published(host, TEXTFILE_DIR, CA, "extagram-ca")
    written = {}
    for path in host.check_output(f"ls {TEXTFILE_DIR}/extagram_tls_*.prom").split():
        written |= helpers.series(host.file(path).content_string, helpers.TLS_FACT)
    for labels, end in written.items():
        assert end == helpers.certificate_end(host, dict(labels)["path"]), labels
    assert helpers.series(helpers.scrape(host, PORT), helpers.TLS_FACT) == written
