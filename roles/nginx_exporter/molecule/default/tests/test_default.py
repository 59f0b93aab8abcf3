"""Role nginx_exporter: stub_status on loopback, the exporter on the private address only.

Runs in roles/nginx_exporter's scenario and in tests/topology.
"""

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("balancer", "media", "assets")
PORT = shared_setting("extagram_shared_nginx_exporter_port")
STUB_STATUS_PORT = 8080


def test_stub_status_answers_on_loopback_only(host):
    assert host.socket(f"tcp://127.0.0.1:{STUB_STATUS_PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{STUB_STATUS_PORT}").is_listening
    assert not host.socket(f"tcp://{helpers.address(host)}:{STUB_STATUS_PORT}").is_listening
    status, _, body = helpers.fetch(host, "/stub_status", port=STUB_STATUS_PORT)
    assert status == 200
    assert body.startswith("Active connections:")
    assert helpers.fetch(host, "/", port=STUB_STATUS_PORT)[0] == 404
    host.run_expect([0], "nginx -t")


def test_listens_privately_and_only_the_monitoring_node_gets_in(host):
    helpers.assert_exporter_private(host, "prometheus-nginx-exporter", PORT, "nginx_exporter")


def test_the_monitoring_node_reads_nginx_up(host):
    assert "\nnginx_up 1\n" in helpers.scrape(host, PORT)
