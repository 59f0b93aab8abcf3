"""Role nfs_client: read-only, soft NFSv4 mount of the export, in /etc/fstab.

Runs in roles/nfs_client's scenario and in tests/topology.
"""

import uuid

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("nfs_clients")
MOUNT = shared_setting("extagram_shared_export_dir")
REQUIRED_OPTIONS = {"ro", "soft", "noexec", "nosuid", "nodev"}


@pytest.fixture(scope="module")
def server():
    return helpers.node(helpers.running("nfs_server")[0])


def test_mounted_read_only_and_soft(host):
    mount = host.mount_point(MOUNT)
    assert mount.exists
    assert mount.filesystem == "nfs4"
    options = set(mount.options)
    assert options >= REQUIRED_OPTIONS, options
    assert any(option.startswith("timeo=") for option in options)
    assert "vers=4.2" in options


def test_in_fstab_with_nofail(host):
    fstab = host.file("/etc/fstab").content_string
    line = next(line for line in fstab.splitlines() if f" {MOUNT} nfs4 " in line)
    options = set(line.split()[3].split(","))
    assert {"ro", "soft", "_netdev", "nofail", "noexec", "nosuid", "nodev"} <= options


def test_root_cannot_write(host):
    result = host.run(f"touch {MOUNT}/photos/should-not-exist")
    assert result.rc != 0
    assert "Read-only" in result.stderr


def test_writes_on_the_server_are_visible(host, server):
    name = f"probe-{uuid.uuid4().hex}.txt"
    server.run_expect([0], f"printf visible > {MOUNT}/photos/{name}")
    try:
        assert host.check_output(f"cat {MOUNT}/photos/{name}") == "visible"
        assert host.file(f"{MOUNT}/photos").uid == shared_setting("extagram_shared_app_uid")
    finally:
        server.run(f"rm -f {MOUNT}/photos/{name}")


def test_no_rpcbind_needed(host):
    assert not host.socket("tcp://0.0.0.0:111").is_listening
