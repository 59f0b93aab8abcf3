"""What every testinfra test of the deployment shares (role scenarios and tests/topology).

Each Molecule scenario runs its tests with MOLECULE_INVENTORY_FILE set: the scenario's inventory
directory holds Molecule's own file (the scenario's platforms, the nodes it runs) and, in
scenarios that link it, the lab inventory (every node and group, addresses included). So:

- `hosts(*groups)`: inventory names of the groups' nodes, running here or not (use them for
  expected addresses and upstreams);
- `running(*groups)`: the same, restricted to the scenario's platforms (use them for
  `testinfra_hosts` and for commands on other nodes).

Import as `from extagram_testing import testinfra_helpers as helpers`.
"""

import functools
import ipaddress
import os
import re
import subprocess
import sys

import pytest
import testinfra.utils.ansible_runner
import yaml
from prometheus_client.parser import text_string_to_metric_families

# A 1x1 PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

# Role pki's textfile fact: each certificate's end, by its path on the node.
TLS_FACT = "extagram_tls_certificate_expiry_timestamp_seconds"

# Firewall layout: role common's base ruleset includes one rule file per service role.
NFTABLES_CONF = "/etc/nftables.conf"
RULES_DIR = "/etc/nftables.d"
LIST_INPUT_CHAIN = "nft list chain inet filter input"


@functools.cache
def runner():
    """The Ansible runner of the scenario's inventory (the one testinfra's `host` fixture uses)."""
    return testinfra.utils.ansible_runner.AnsibleRunner.get_runner(
        os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    )


@functools.cache
def platforms():
    """Names of the nodes this scenario runs (Molecule's own inventory file lists only those)."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as inventory:
        return frozenset((yaml.safe_load(inventory).get("all") or {}).get("hosts") or {})


def hosts(*groups):
    """Inventory names of the nodes of these groups, sorted (a missing group has none)."""
    return sorted({name for group in groups for name in runner().get_hosts(group)})


def running(*groups):
    """hosts(*groups), restricted to the nodes this scenario runs."""
    return [name for name in hosts(*groups) if name in platforms()]


def node(name):
    """A testinfra host for another node (root, as the `host` fixture: .config/molecule/config.yml)."""
    return runner().get_host(name)


def address(target):
    """The inventory address (`ansible_host`) of a node, given by name or as a testinfra host."""
    name = target if isinstance(target, str) else target.backend.host
    return runner().get_variables(name)["ansible_host"]


def addresses(*groups):
    """The addresses of the nodes of these groups, sorted."""
    return sorted({address(name) for name in hosts(*groups)})


def addresses_from(host, variable, *groups):
    """What a role gets for `variable` on `host`: the inventory's value if it sets one (a
    scenario whose client nodes are not in its inventory), else the groups' addresses (the
    role's default). Read from the inventory, not with `host.ansible.get_variables()`: that runs
    an Ansible module on the node for each call, seconds each under TCG."""
    variables = runner().get_variables(host.backend.host)
    if variable in variables:
        return sorted(variables[variable])
    return addresses(*groups)


def run_playbook(playbook, limit):
    """Run one of the repository's playbooks (a path from its root) against the scenario's
    inventory, as an admin would; Molecule's environment gives it the scenario's ansible.cfg."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    secrets = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "secrets")
    command = [
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        *("-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])),
        *("--limit", limit, "--extra-vars", f"extagram_secrets_dir={secrets}"),
        os.path.join(repo, playbook),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout


def replica_status(host):
    """The node's SHOW SLAVE STATUS as {column: value} (empty when it replicates nothing)."""
    out = host.check_output("mysql -e 'SHOW SLAVE STATUS\\G'")
    pairs = (line.strip().partition(": ") for line in out.splitlines() if ": " in line)
    return {key: value for key, _, value in pairs}


def curl(host, target, *options, keep_body=True, max_time=30):
    """(status, lower-cased headers, body) of `curl` run on `host` for `target` (a URL, with any
    curl options before it); `options` go to curl as they are (quote them); keep_body=False for
    binary bodies (the body is then empty)."""
    sink = "" if keep_body else "-o /dev/null"
    out = host.check_output(f"curl -sS --max-time {max_time} -D - {sink} {' '.join(options)} {target}")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return int(head.split()[1]), head.lower(), body


def fetch(host, path, *options, address="127.0.0.1", port=None, **kwargs):
    """curl() of plain HTTP `path` at `address` (the local node unless told) and `port`."""
    netloc = address if port is None else f"{address}:{port}"
    return curl(host, f"http://{netloc}{path}", *options, **kwargs)


def site_target(host, path, via=None):
    """curl's arguments for `path` (curl's URL globs allowed) of the public site through S1's
    HTTPS, from `host`. The URL names S1 (its certificate's name) and --resolve sends it to `via`:
    127.0.0.1 on S1 itself, S1's private address elsewhere, unless told. Every node trusts the
    private CA that signed it (role common), so curl verifies the chain and the name."""
    balancer = running("balancer")[0]
    if via is None:
        via = "127.0.0.1" if host.backend.host == balancer else address(balancer)
    return f"--resolve {balancer}:443:{via} 'https://{balancer}{path}'"


def site_fetch(host, path, *options, via=None, **kwargs):
    """curl() of `path` of the public site through S1's HTTPS (site_target), the chain verified."""
    return curl(host, site_target(host, path, via), *options, **kwargs)


def assert_nginx_runs(host, port):
    """nginx enabled, running, listening on `port` on every address, Debian's site gone, config valid."""
    service = host.service("nginx")
    assert service.is_enabled
    assert service.is_running
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    host.run_expect([0], "nginx -t")


def input_rules(host):
    """The lines of the live input chain, stripped."""
    output = host.check_output(LIST_INPUT_CHAIN)
    return [line.strip() for line in output.splitlines()]


def rule_comment(rule):
    """The comment of an nft rule line, or None."""
    match = re.search(r'comment "([^"]*)"$', rule)
    return match.group(1) if match else None


def expected_rule(port, addresses, comment):
    """The rule as `nft list` shows it: one source bare, several as a sorted `{ a, b }` set,
    addresses=None for every source."""
    if addresses is None:
        source = ""
    else:
        # Addresses or networks (192.168.56.0/24), in nft's order.
        sources = sorted({str(item) for item in addresses}, key=ipaddress.ip_network)
        source = f"ip saddr {sources[0]} " if len(sources) == 1 else f"ip saddr {{ {', '.join(sources)} }} "
    return f'{source}tcp dport {port} accept comment "{comment}"'


def assert_port_open_only_to(host, port, addresses, comment):
    """Role `comment` opens TCP `port` on `host` to `addresses` and to nobody else (None: to
    everyone; empty: to nobody, no rule), from its own file /etc/nftables.d/<comment>.nft."""
    rule_file = host.file(f"{RULES_DIR}/{comment}.nft")
    assert rule_file.is_file, rule_file.path
    assert (rule_file.user, rule_file.group, rule_file.mode) == ("root", "root", 0o644), rule_file.path
    opening = [rule for rule in input_rules(host) if f"tcp dport {port} " in f"{rule} "]
    if addresses is not None and not addresses:
        assert not opening, opening
        return
    assert opening == [expected_rule(port, addresses, comment)], opening
    assert f'comment "{comment}"' in rule_file.content_string


def assert_rule_only_on(comment, names):
    """No running node outside `names` has role `comment`'s rule file or rule."""
    for name in sorted(platforms() - set(names)):
        other = node(name)
        assert not other.file(f"{RULES_DIR}/{comment}.nft").exists, name
        assert comment not in {rule_comment(rule) for rule in input_rules(other)}, name


def assert_runs(host, *services):
    """Each service enabled and running on `host`."""
    for name in services:
        service = host.service(name)
        assert service.is_enabled, name
        assert service.is_running, name


def assert_listens_on_private_address_only(host, port):
    """TCP `port` listens on the node's private address (`ansible_host`) and on no wildcard."""
    assert host.socket(f"tcp://{address(host)}:{port}").is_listening, port
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
    assert not host.socket(f"tcp://:::{port}").is_listening, port


def assert_exporter_private(host, service, port, role):
    """An exporter (role `role`, unit `service`) runs, listens on the private address only, and
    its port is open to the monitoring node alone (`<role>_prometheus_addresses`)."""
    assert_runs(host, service)
    assert_listens_on_private_address_only(host, port)
    monitoring = addresses_from(host, f"{role}_prometheus_addresses", "monitoring")
    assert_port_open_only_to(host, port, monitoring, role)


def scrape(host, port):
    """The /metrics text of the exporter at `host`'s private address and `port`, as the
    monitoring node reads it (skips the test when the scenario runs no monitoring node)."""
    monitors = running("monitoring")
    if not monitors:
        pytest.skip("no monitoring node in this scenario")
    status, _, body = fetch(node(monitors[0]), "/metrics", address=address(host), port=port)
    assert status == 200, body[:500]
    return body


def series(text, name):
    """{labels: value} of metric `name` in Prometheus text (an exporter's page, a textfile fact),
    the labels as a tuple of sorted (label, value) pairs."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def certificate_end(host, path):
    """The unix time the certificate at `path` on `host` ends: its notAfter, as openssl reads it."""
    return int(host.check_output(f'date -d "$(openssl x509 -noout -enddate -in {path} | cut -d= -f2)" +%s'))


def assert_certificate_end_published(host, textfile_dir, path, name):
    """Role pki's fact for the certificate at `path` (extagram_tls_<name>.prom in the node
    exporter's `textfile_dir`): root's, readable by the exporter, its one series the certificate's end."""
    fact = host.file(f"{textfile_dir}/extagram_tls_{name}.prom")
    assert (fact.user, fact.group, fact.mode) == ("root", "root", 0o644), fact.path
    assert series(fact.content_string, TLS_FACT) == {(("path", path),): certificate_end(host, path)}
