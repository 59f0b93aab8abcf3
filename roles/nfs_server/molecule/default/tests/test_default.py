"""Role nfs_server: NFSv4-only, read-only, root-squashed export per client address.

Runs in roles/nfs_server's scenario and in tests/topology.
"""

import os
import re

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(
    os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
)
testinfra_hosts = RUNNER.get_hosts("nfs_server")
EXPORT = "/srv/extagram/export"


def clients(host):
    variables = host.ansible.get_variables()
    if "nfs_server_clients" in variables:
        return sorted(variables["nfs_server_clients"])
    return sorted(RUNNER.get_variables(name)["ansible_host"] for name in RUNNER.get_hosts("nfs_clients"))


def test_server_runs(host):
    assert host.package("nfs-kernel-server").is_installed
    service = host.service("nfs-server")
    assert service.is_enabled
    assert service.is_running
    assert host.socket("tcp://0.0.0.0:2049").is_listening


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
    assert photos.is_directory and photos.uid == 950 and photos.gid == 950 and photos.mode == 0o755
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
