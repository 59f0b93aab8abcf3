"""Role nginx_static: /storage/ and /static/ from the read-only NFS mount, nothing else.

Runs in roles/nginx_static's scenario and in tests/topology. Probe files are written on the
NFS server for the duration of the module and removed afterwards.
"""

import uuid

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("media", "assets")
EXPORT = shared_setting("extagram_shared_export_dir")
PORT = shared_setting("extagram_shared_static_port")


@pytest.fixture(scope="module")
def probes():
    server = helpers.node(helpers.running("nfs_server")[0])
    photo = f"{uuid.uuid4().hex}.png"
    asset = f"probe-{uuid.uuid4().hex}.css"
    owner = f"{shared_setting('extagram_shared_app_uid')}:{shared_setting('extagram_shared_app_gid')}"
    server.run_expect([0], f"echo {helpers.PNG_BASE64} | base64 -d > {EXPORT}/photos/{photo}")
    server.run_expect([0], f"chown {owner} {EXPORT}/photos/{photo}; chmod 0644 {EXPORT}/photos/{photo}")
    server.run_expect([0], f"printf 'body{{color:black}}' > {EXPORT}/static/{asset}")
    server.run_expect([0], f"chmod 0644 {EXPORT}/static/{asset}")
    yield {"photo": photo, "asset": asset}
    server.run(f"rm -f {EXPORT}/photos/{photo} {EXPORT}/static/{asset}")


def head(host, path, *options):
    """(status, lower-cased headers) of a request to the local nginx."""
    status, headers, _body = helpers.fetch(host, path, *options, port=PORT, keep_body=False)
    return status, headers


def status(host, path, *options):
    return head(host, path, *options)[0]


def test_nginx_runs(host):
    helpers.assert_nginx_runs(host, PORT)


def test_firewall_lets_in_the_balancer_only(host):
    balancer = helpers.addresses_from(host, "nginx_static_balancer_addresses", "balancer")
    helpers.assert_port_open_only_to(host, PORT, balancer, "nginx_static")


def test_no_other_node_opens_the_static_port():
    helpers.assert_rule_only_on("nginx_static", testinfra_hosts)


def test_photo_served_with_immutable_cache(host, probes):
    code, headers = head(host, f"/storage/{probes['photo']}")
    assert code == 200
    assert "content-type: image/png" in headers
    assert "immutable" in headers and "max-age=31536000" in headers
    assert "x-content-type-options: nosniff" in headers
    assert f"x-served-by: {host.check_output('hostname')}" in headers


def test_static_served(host, probes):
    code, headers = head(host, f"/static/{probes['asset']}")
    assert code == 200
    assert "content-type: text/css" in headers


# Alone: another test's request would hold its file open for a moment.
@pytest.mark.serial
def test_nginx_keeps_no_descriptor_of_the_export(host, probes):
    """A descriptor kept on the NFS mount can outlive its file (README, "Why no open file cache")."""
    assert status(host, f"/static/{probes['asset']}") == 200
    assert status(host, f"/storage/{probes['photo']}") == 200
    held = host.check_output(
        f"for pid in $(pgrep --exact nginx); do find /proc/$pid/fd -lname '{EXPORT}/*'; done"
    )
    assert held == ""


def test_only_photo_names_under_storage(host, probes):
    assert status(host, "/storage/") == 404
    assert status(host, "/storage/not-a-photo.png") == 404
    assert status(host, f"/storage/{probes['photo'][:-4]}.php") == 404
    assert status(host, f"/storage/{uuid.uuid4().hex}.png") == 404
    assert status(host, "/storage/../../etc/passwd", "--path-as-is") in (400, 404)


def test_nothing_else_is_served(host):
    assert status(host, "/") == 404
    code, headers = head(host, "/static/")
    assert code in (403, 404)
    assert "immutable" not in headers


def test_only_get_and_head(host, probes):
    assert status(host, f"/storage/{probes['photo']}", "-I") == 200
    assert status(host, f"/storage/{probes['photo']}", "-X POST") == 405
    assert status(host, f"/static/{probes['asset']}", "-X DELETE") == 405
