"""The one Python reader of the lab inventory (inventory/vagrant/hosts.yml).

The Vagrantfile reads the same file in Ruby; everything in Python (the lab tool, the failover
suite, Molecule's create playbook through `lab.py hosts`) asks this module. The file is plain
YAML: host names, `ansible_host`, the optional `vagrant_memory` and `vagrant_cpus`, and `all.vars`
such as `vagrant_management_network` are literal values, never Jinja.
"""

from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import dataclass, field

import yaml

from extagram_lab.common import REPO

DEFAULT_INVENTORY = REPO / "inventory" / "vagrant" / "hosts.yml"


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    groups: tuple[str, ...]
    variables: dict = field(default_factory=dict, compare=False, hash=False)

    def in_group(self, group: str) -> bool:
        return group in self.groups


def inventory_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("EXTAGRAM_LAB_INVENTORY", DEFAULT_INVENTORY))


@functools.cache
def hosts(path: pathlib.Path | None = None) -> dict[str, Host]:
    """Host name -> Host, sorted by name; a host listed in several groups is merged."""
    variables: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}

    def walk(group_name: str, group: dict | None) -> None:
        group = group or {}
        for name, host_vars in (group.get("hosts") or {}).items():
            variables.setdefault(name, {}).update(host_vars or {})
            groups.setdefault(name, []).append(group_name)
        for child_name, child in (group.get("children") or {}).items():
            walk(child_name, child)

    walk("all", yaml.safe_load((path or inventory_path()).read_text())["all"])
    missing = sorted(name for name, host_vars in variables.items() if "ansible_host" not in host_vars)
    if missing:
        raise ValueError(f"inventory hosts without ansible_host: {', '.join(missing)}")
    return {
        name: Host(name, str(variables[name]["ansible_host"]), tuple(groups[name]), variables[name])
        for name in sorted(variables)
    }


@functools.cache
def lab_setting(name: str):
    """A lab-wide value from the inventory's `all.vars` (e.g. vagrant_management_network)."""
    return (yaml.safe_load(inventory_path().read_text())["all"].get("vars") or {})[name]


def group(name: str) -> list[Host]:
    """The hosts of one group, in name order."""
    return [host for host in hosts().values() if host.in_group(name)]


def address(name: str) -> str:
    return hosts()[name].address


def balancer() -> Host:
    """The public entry point (the first host of group `balancer`)."""
    return group("balancer")[0]


@functools.cache
def role_default(role: str, name: str):
    """A literal default of a role (roles/<role>/defaults/main.yml), as the tests expect it."""
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())[name]


def shared_setting(name: str):
    """A project-wide fact (export path, app uid, ports...) from roles/extagram_shared's defaults."""
    return role_default("extagram_shared", name)
