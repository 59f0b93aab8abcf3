"""Role nginx_static: /storage/ and /static/ from the read-only NFS mount, nothing else.

Runs in roles/nginx_static's scenario and in tests/topology. Probe files are written on the
NFS server for the duration of the module and removed afterwards.
"""

import os
import shlex
import uuid

import pytest
import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(
    os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
)
testinfra_hosts = sorted(set(RUNNER.get_hosts("media")) | set(RUNNER.get_hosts("assets")))
EXPORT = "/srv/extagram/export"
# A 1x1 PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def as_root(command):
    return f"sudo sh -c {shlex.quote(command)}"


@pytest.fixture(scope="module")
def probes():
    server = RUNNER.get_host(RUNNER.get_hosts("nfs_server")[0])
    photo = f"{uuid.uuid4().hex}.png"
    asset = f"probe-{uuid.uuid4().hex}.css"
    server.run_expect([0], as_root(f"echo {PNG_BASE64} | base64 -d > {EXPORT}/photos/{photo}"))
    server.run_expect([0], as_root(f"chown 950:950 {EXPORT}/photos/{photo}; chmod 0644 {EXPORT}/photos/{photo}"))
    server.run_expect([0], as_root(f"printf 'body{{color:black}}' > {EXPORT}/static/{asset}"))
    server.run_expect([0], as_root(f"chmod 0644 {EXPORT}/static/{asset}"))
    yield {"photo": photo, "asset": asset}
    server.run(as_root(f"rm -f {EXPORT}/photos/{photo} {EXPORT}/static/{asset}"))


def curl(host, path, *options):
    """Status line and headers of a request to the local nginx."""
    return host.check_output(f"curl -sS -o /dev/null -D - {' '.join(options)} http://127.0.0.1{path}")


def status(headers):
    return int(headers.splitlines()[0].split()[1])


def test_nginx_runs(host):
    service = host.service("nginx")
    assert service.is_enabled
    assert service.is_running
    assert host.socket("tcp://0.0.0.0:80").is_listening
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    host.run_expect([0], "nginx -t")


def test_photo_served_with_immutable_cache(host, probes):
    headers = curl(host, f"/storage/{probes['photo']}")
    assert status(headers) == 200
    lowered = headers.lower()
    assert "content-type: image/png" in lowered
    assert "immutable" in lowered and "max-age=31536000" in lowered
    assert "x-content-type-options: nosniff" in lowered
    assert f"x-served-by: {host.check_output('hostname')}" in lowered


def test_static_served(host, probes):
    headers = curl(host, f"/static/{probes['asset']}")
    assert status(headers) == 200
    assert "content-type: text/css" in headers.lower()


def test_only_photo_names_under_storage(host, probes):
    assert status(curl(host, "/storage/")) == 404
    assert status(curl(host, "/storage/not-a-photo.png")) == 404
    assert status(curl(host, f"/storage/{probes['photo'][:-4]}.php")) == 404
    assert status(curl(host, f"/storage/{uuid.uuid4().hex}.png")) == 404
    assert status(curl(host, "/storage/../../etc/passwd", "--path-as-is")) in (400, 404)


def test_nothing_else_is_served(host):
    assert status(curl(host, "/")) == 404
    assert status(curl(host, "/static/")) in (403, 404)
    assert "immutable" not in curl(host, "/static/").lower()


def test_only_get_and_head(host, probes):
    assert status(curl(host, f"/storage/{probes['photo']}", "-I")) == 200
    assert status(curl(host, f"/storage/{probes['photo']}", "-X POST")) == 405
    assert status(curl(host, f"/static/{probes['asset']}", "-X DELETE")) == 405
