#!/usr/bin/env python3
"""The working loop on a running lab (`make up` first): re-provision the nodes one role runs on,
then run that role's testinfra tests against them. Minutes, not a whole `make test`.

    lab.py run .venv/bin/python tests/lab/loop.py nginx_balancer     # make check ROLE=nginx_balancer
    lab.py run .venv/bin/python tests/lab/loop.py --no-provision mariadb
    lab.py run .venv/bin/python tests/lab/loop.py topology            # the end-to-end tests only

The plays are site.yml's own (every playbook that runs the role or a role depending on it, in
site.yml's order), against inventory/vagrant as `make up` provisioned it. Facts are cached between
runs (~/.cache/extagram-lab/facts), so a second loop gathers none.
"""

import argparse
import os
import pathlib
import sys

import yaml

from extagram_lab import lab_ca
from extagram_lab.common import CACHE_DIR, PYTEST_NOTHING_SELECTED, REPO, VERIFY_PASSES, StepTimer
from extagram_lab.inventory import hosts

VENV_BIN = pathlib.Path(sys.executable).parent
LAB_INVENTORY = REPO / "inventory" / "vagrant"
LOOP_DIR = CACHE_DIR / "loop"  # Molecule's ephemeral directory, as the helpers expect one
LOOP_INVENTORY = LOOP_DIR / "inventory"
TOPOLOGY_TESTS = REPO / "tests/topology/molecule/default/tests"
APP_ROLE = "extagram_app"  # its plays need the controller's wheelhouse, built by playbooks/wheelhouse.yml


def read_yaml(path):
    return yaml.safe_load(path.read_text()) or []


def site_playbooks():
    """site.yml's imported playbooks, in its order."""
    return [REPO / play["ansible.builtin.import_playbook"] for play in read_yaml(REPO / "site.yml")]


def with_dependencies(role):
    """The role and every role it depends on (roles/*/meta/main.yml), recursively."""
    meta = read_yaml(REPO / "roles" / role / "meta" / "main.yml")
    found = {role}
    for dependency in meta.get("dependencies") or []:
        found |= with_dependencies(dependency["role"] if isinstance(dependency, dict) else dependency)
    return found


def roles_of(playbook):
    return {
        entry["role"] if isinstance(entry, dict) else entry
        for play in read_yaml(playbook)
        for entry in play.get("roles") or []
    }


def playbooks_for(roles):
    """The site.yml playbooks that run one of these roles, directly or as a dependency."""
    chosen = []
    for playbook in site_playbooks():
        ran = set().union(*(with_dependencies(role) for role in roles_of(playbook)))
        if ran & set(roles):
            chosen.append(playbook)
    if any(APP_ROLE in roles_of(playbook) for playbook in chosen):
        chosen.insert(0, REPO / "playbooks" / "wheelhouse.yml")
    return chosen


def write_test_inventory():
    """The inventory testinfra reads, shaped like a Molecule scenario's: a file naming every
    running node with its connection (tests/support/testinfra_helpers.py's platforms()), beside
    the lab inventory's groups; the lab's secrets where the helpers look for a scenario's."""
    LOOP_INVENTORY.mkdir(parents=True, exist_ok=True)
    # Literal values: testinfra does not template the lab inventory's group_vars.
    connection = {
        "ansible_user": "vagrant",
        "ansible_ssh_private_key_file": str(pathlib.Path.home() / ".vagrant.d" / "insecure_private_key"),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }
    platforms = {name: {"ansible_host": host.address, **connection} for name, host in hosts().items()}
    inventory_file = LOOP_INVENTORY / "molecule_inventory.yml"
    inventory_file.write_text(yaml.safe_dump({"all": {"hosts": platforms}}))
    # The secrets sit beside the inventory, not in it: Ansible would read their files as hosts.
    links = {
        LOOP_INVENTORY / "hosts.yml": LAB_INVENTORY / "hosts.yml",
        LOOP_DIR / "secrets": lab_ca.LAB_SECRETS,
    }
    for link, target in links.items():
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return inventory_file


# Facts kept between loops: a second `make check` gathers none (the roles read memory and CPUs).
FACT_CACHE_ENV = {
    "ANSIBLE_GATHERING": "smart",
    "ANSIBLE_CACHE_PLUGIN": "jsonfile",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(CACHE_DIR / "facts"),
    "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "86400",
}


def verifier_env():
    """The environment Molecule's verifier gives the tests (the shared config's: root's login)."""
    return read_yaml(REPO / ".config" / "molecule" / "config.yml")["verifier"]["env"]


def role_tests(role):
    return REPO / "roles" / role / "molecule" / "default" / "tests"


def tests_of(roles):
    """The test directories of `roles`. Roles without their own (backup, pki, nginx_base) are checked
    by the end-to-end tests or by the tests of the roles that use them: say so, and go on."""
    found = []
    for role in roles:
        tests = TOPOLOGY_TESTS if role == "topology" else role_tests(role)
        if tests.is_dir():
            found.append(tests)
        else:
            print(f"loop: role {role} has no tests of its own: add topology, or a role that uses it")
    return found


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-provision", action="store_true", help="run the tests only")
    parser.add_argument("-k", dest="keyword", help="pytest's -k, to pick tests by name")
    parser.add_argument("roles", nargs="+", help="role names, or 'topology' for the end-to-end tests")
    args = parser.parse_args()
    roles = [role for role in args.roles if role != "topology"]
    unknown = [role for role in roles if not (REPO / "roles" / role).is_dir()]
    if unknown:
        sys.exit(f"loop: no such role: {', '.join(unknown)}")
    # testinfra multiplexes its SSH commands only when this directory exists (tests/molecule/create.yml).
    (pathlib.Path.home() / ".ansible" / "cp").mkdir(parents=True, exist_ok=True)
    timer = StepTimer()
    ok = True
    playbooks = playbooks_for(roles)
    if playbooks and not args.no_provision:
        command = [VENV_BIN / "ansible-playbook", "-i", LAB_INVENTORY, "--limit", "all,localhost", *playbooks]
        os.environ.update(FACT_CACHE_ENV)
        ok = timer.step("provision: " + " ".join(path.name for path in playbooks), command, REPO)
    inventory_file = write_test_inventory()
    os.environ.update(MOLECULE_INVENTORY_FILE=str(inventory_file), MOLECULE_EPHEMERAL_DIRECTORY=str(LOOP_DIR))
    pytest = [VENV_BIN / "pytest", "-q", "--import-mode=importlib", "-p", "no:cacheprovider"]
    pytest += ["--connection=ansible", f"--ansible-inventory={LOOP_INVENTORY}", "--durations=5"]
    os.environ.update(verifier_env())
    if args.keyword:
        pytest += ["-k", args.keyword]
    tests = tests_of(args.roles)
    for how, options in VERIFY_PASSES.items() if tests else ():
        name = f"tests ({how}): " + " ".join(args.roles)
        command = [*pytest, *options, *tests]
        ok = ok and timer.step(name, command, REPO, ok_codes=(0, PYTEST_NOTHING_SELECTED))
    timer.print_table()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
