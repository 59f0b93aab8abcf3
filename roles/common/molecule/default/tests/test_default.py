"""Role common on every node: hostname, /etc/hosts, chrony, security updates, nftables.

Runs in roles/common's scenario and in tests/topology (all seven nodes).
"""

import os

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(
    os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
)
testinfra_hosts = RUNNER.get_hosts("all")

# (group the rule lives on, port, groups allowed in); mirrors common_firewall_services.
SERVICES = [
    ("database", 3306, ("feed", "upload")),
    ("feed", 8000, ("balancer",)),
    ("upload", 8000, ("balancer",)),
    ("nfs_server", 2049, ("nfs_clients",)),
    ("media", 80, ("balancer",)),
    ("assets", 80, ("balancer",)),
]


def addresses(*groups):
    return sorted(
        {RUNNER.get_variables(name)["ansible_host"] for group in groups for name in RUNNER.get_hosts(group)}
    )


def test_base_packages(host):
    for package in ("nftables", "chrony", "unattended-upgrades", "curl"):
        assert host.package(package).is_installed, package


def test_hostname_is_the_inventory_name(host):
    assert host.check_output("hostname") == host.backend.host


def test_etc_hosts_lists_every_node(host):
    hosts = host.file("/etc/hosts")
    assert hosts.mode == 0o644
    content = hosts.content_string
    for name in RUNNER.get_hosts("all"):
        address = RUNNER.get_variables(name)["ansible_host"]
        assert f"{address} {name}\n" in content, name
    assert "127.0.1.1" not in content
    assert host.check_output(f"getent hosts {host.backend.host}").split()[0] == (
        host.ansible.get_variables()["ansible_host"]
    )


def test_chrony_runs(host):
    service = host.service("chrony")
    assert service.is_enabled
    assert service.is_running


def test_unattended_security_upgrades(host):
    assert host.file("/etc/apt/apt.conf.d/20auto-upgrades").contains('Unattended-Upgrade "1"')
    origins = host.file("/etc/apt/apt.conf.d/52extagram-unattended-upgrades")
    assert origins.contains("#clear Unattended-Upgrade::Origins-Pattern;")
    assert origins.contains("label=Debian-Security")
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled, timer


def test_nftables_enabled_and_loaded(host):
    assert host.service("nftables").is_enabled
    conf = host.file("/etc/nftables.conf")
    assert conf.user == "root"
    assert conf.mode == 0o750
    host.run_expect([0], "nft -c -f /etc/nftables.conf")
    ruleset = host.check_output("nft list chain inet filter input")
    assert "policy drop" in ruleset
    assert 'tcp dport 22 accept comment "ssh"' in ruleset


def test_firewall_follows_group_membership(host):
    groups = host.ansible.get_variables()["group_names"]
    ruleset = host.check_output("nft list chain inet filter input")
    for group, port, sources in SERVICES:
        allowed = addresses(*sources)
        if group in groups and allowed:
            expected = ", ".join(allowed)
            if len(allowed) == 1:
                assert f"ip saddr {allowed[0]} tcp dport {port} accept" in ruleset, (group, port)
            else:
                assert f"ip saddr {{ {expected} }} tcp dport {port} accept" in ruleset, (group, port)
    opened = {port for group, port, _ in SERVICES if group in groups}
    if "balancer" in groups:
        opened.add(80)
        assert 'tcp dport 80 accept comment "http-public"' in ruleset
    for port in {3306, 8000, 2049, 80} - opened:
        assert f"dport {port} " not in ruleset, port


def test_ssh_reachable_between_nodes(host):
    for name in RUNNER.get_hosts("all"):
        address = RUNNER.get_variables(name)["ansible_host"]
        host.run_expect([0], f"timeout 5 bash -c '</dev/tcp/{address}/22'")
