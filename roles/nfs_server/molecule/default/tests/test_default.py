"""Role nfs_server: NFSv4-only, read-only, root-squashed export per client address.

Runs in roles/nfs_server's scenario and in tests/topology.
"""

import re

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("nfs_server")
EXPORT = shared_setting("extagram_shared_export_dir")
PORT = 2049


def clients(host):
    return helpers.addresses_from(host, "nfs_server_clients", "nfs_clients")


def test_server_runs(host):
    assert host.package("nfs-kernel-server").is_installed
    service = host.service("nfs-server")
    assert service.is_enabled
    assert service.is_running
    assert host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_firewall_lets_in_the_clients_only(host):
    helpers.assert_port_open_only_to(host, PORT, clients(host), "nfs_server")


def test_no_other_node_opens_the_nfs_port():
    helpers.assert_rule_only_on("nfs_server", testinfra_hosts)


def test_nfsv4_only_without_rpcbind(host):
    conf = host.file("/etc/nfs.conf.d/extagram.conf")
    assert conf.contains("vers3 = n")
    assert "-3" in host.check_output("cat /proc/fs/nfsd/versions")
    for unit in ("rpcbind.socket", "rpcbind.service", "rpc-statd.service"):
        assert not host.service(unit).is_running, unit
    assert not host.socket("tcp://0.0.0.0:111").is_listening
    assert not host.socket("udp://0.0.0.0:111").is_listening


def test_export_directories(host):
    root = host.file(EXPORT)
    assert root.is_directory and root.user == "root" and root.mode == 0o755
    photos = host.file(f"{EXPORT}/photos")
    assert photos.is_directory and photos.mode == 0o755
    assert photos.uid == shared_setting("extagram_shared_app_uid")
    assert photos.gid == shared_setting("extagram_shared_app_gid")
    static = host.file(f"{EXPORT}/static")
    assert static.is_directory and static.user == "root" and static.mode == 0o755


def test_read_only_export_to_each_client(host):
    expected = clients(host)
    assert expected, "no NFS clients in the inventory"
    exported = {}
    for line in host.check_output("exportfs -s").splitlines():
        match = re.match(r"^(\S+)\s+(\S+)\((.*)\)$", line.strip())
        assert match, line
        path, client, options = match.groups()
        assert path == EXPORT
        exported[client] = options.split(",")
    assert sorted(exported) == expected  # one entry per client, no wildcard
    for options in exported.values():
        assert "ro" in options and "root_squash" in options
