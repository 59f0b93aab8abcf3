#!/usr/bin/env python3
"""Every role's own Molecule scenario, one after the other, run inside the lab namespace.

Each scenario creates its few VMs from scratch, converges the role, checks that a second run
changes nothing, runs the role's testinfra tests and destroys the VMs. A failed role does not stop
the others; the table at the end gives each role's time and result.

    lab.py run .venv/bin/python tests/lab/role_suite.py [ROLE...]
"""

import pathlib
import sys

from extagram_lab.common import REPO, StepTimer


def main():
    roles = sys.argv[1:] or sorted(path.parent.parent.name for path in REPO.glob("roles/*/molecule/default"))
    molecule = str(pathlib.Path(sys.executable).parent / "molecule")
    timer = StepTimer()
    results = [timer.step(f"role {role}", [molecule, "test"], REPO / "roles" / role) for role in roles]
    timer.print_table()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
