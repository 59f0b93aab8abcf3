"""Role common on every node: hostname, /etc/hosts, chrony, security updates, nftables.

Runs in roles/common's scenario and in tests/topology (all seven nodes). The firewall checked
here is the base policy only: each service role opens its own port in /etc/nftables.d and checks
it in its own tests (testinfra_helpers.assert_port_open_only_to).
"""

from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("all")
SSH_RULE = 'tcp dport 22 accept comment "ssh"'


def test_base_packages(host):
    for package in ("nftables", "chrony", "unattended-upgrades", "curl"):
        assert host.package(package).is_installed, package


def test_hostname_is_the_inventory_name_now_and_after_a_reboot(host):
    assert host.check_output("hostname") == host.backend.host
    assert host.file("/etc/hostname").content_string == f"{host.backend.host}\n"


def test_etc_hosts_lists_every_node(host):
    hosts = host.file("/etc/hosts")
    assert hosts.mode == 0o644
    content = hosts.content_string
    for name in helpers.hosts("all"):
        assert f"{helpers.address(name)} {name}\n" in content, name
    assert "127.0.1.1" not in content
    assert host.check_output(f"getent hosts {host.backend.host}").split()[0] == helpers.address(host)


def test_chrony_runs(host):
    service = host.service("chrony")
    assert service.is_enabled
    assert service.is_running


def test_unattended_security_upgrades(host):
    """Security origins only; the timers follow apt's setting (on by default, off in the lab)."""
    origins = host.file("/etc/apt/apt.conf.d/52extagram-unattended-upgrades")
    assert origins.contains("#clear Unattended-Upgrade::Origins-Pattern;")
    assert origins.contains("label=Debian-Security")
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades")
    enabled = periodic.contains('Unattended-Upgrade "1"')
    assert enabled or periodic.contains('Unattended-Upgrade "0"')
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled == enabled, timer
        assert host.service(timer).is_running == enabled, timer


def test_nftables_enabled_and_loaded(host):
    assert host.service("nftables").is_enabled
    conf = host.file(helpers.NFTABLES_CONF)
    assert conf.user == "root"
    assert conf.mode == 0o750
    lines = [line.strip() for line in conf.content_string.splitlines()]
    statements = [line for line in lines if line and not line.startswith("#")]
    assert statements[-1] == f'include "{helpers.RULES_DIR}/*.nft"', statements[-1]
    host.run_expect([0], f"nft -c -f {helpers.NFTABLES_CONF}")
    rules = helpers.input_rules(host)
    assert any("policy drop;" in rule for rule in rules), rules
    assert SSH_RULE in rules, rules


def test_other_ports_open_only_through_the_role_rule_files(host):
    """Besides SSH, every TCP port the input chain accepts comes from a service role's rule
    file, named in the rule's comment (the roles check their own rule and sources)."""
    rules_dir = host.file(helpers.RULES_DIR)
    assert rules_dir.is_directory and rules_dir.user == "root"
    for rule in helpers.input_rules(host):
        if "tcp dport" not in rule or rule == SSH_RULE:
            continue
        comment = helpers.rule_comment(rule)
        assert comment and host.file(f"{helpers.RULES_DIR}/{comment}.nft").is_file, rule


def test_ssh_reachable_between_nodes(host):
    for name in helpers.running("all"):
        host.run_expect([0], f"timeout 5 bash -c '</dev/tcp/{helpers.address(name)}/22'")
