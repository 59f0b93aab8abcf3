"""`lab.py hosts`: the inventory as JSON for Molecule's create playbook, from any directory."""

import json
import subprocess
import sys

from extagram_lab import inventory
from extagram_lab.common import REPO

LAB = REPO / "tests" / "lab" / "lab.py"


def lab_hosts(*nodes, cwd):
    return subprocess.run(
        [sys.executable, str(LAB), "hosts", *nodes],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_every_node_with_its_address_and_groups(tmp_path):
    result = lab_hosts(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        host.name: {"address": host.address, "groups": list(host.groups)}
        for host in inventory.hosts().values()
    }


def test_only_the_nodes_asked_for(tmp_path):
    first, second = list(inventory.hosts())[:2]
    result = lab_hosts(second, first, cwd=tmp_path)
    assert list(json.loads(result.stdout)) == [second, first]


def test_an_unknown_node_fails_with_its_name(tmp_path):
    result = lab_hosts("no-such-node", cwd=tmp_path)
    assert result.returncode == 1
    assert "no-such-node" in result.stderr and result.stdout == ""
