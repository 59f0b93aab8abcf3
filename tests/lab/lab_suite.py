#!/usr/bin/env python3
"""The lab half of `make test`, run inside the lab namespace by `lab.py run`.

1. The topology scenario: seven fresh VMs, site.yml, a second run that must
   change nothing, then every role's testinfra tests and the end-to-end checks.
2. The lab's figures: wrk through S1 for the page, the live poll and a static file (printed).
3. The failover matrix against that converged topology.
4. The lab is removed whatever happened, and the step times are printed.
"""

import os
import pathlib
import sys

from extagram_lab.common import REPO, StepTimer

VENV_BIN = pathlib.Path(sys.executable).parent
# CI's part of the matrix, sized to CI's time budget (docs/lab.md): the stopped upload node (the
# friendly page at once), a halted feed node (S1 moves on) and the halted database (S1's cache,
# the app's fail-fast). `make test-failover` runs every case, every stop and every halt.
CI_FAILOVER_SELECTION = "s4-stop or s2-halt or s7-halt"
FAILOVER_SELECTION = os.environ.get("EXTAGRAM_FAILOVER_SELECTION", CI_FAILOVER_SELECTION)


def main():
    timer = StepTimer()
    lab = [sys.executable, str(REPO / "tests/lab/lab.py")]
    failover = [str(VENV_BIN / "pytest"), "-q", "tests/failover"]
    if FAILOVER_SELECTION != "all":
        failover += ["-k", FAILOVER_SELECTION]
    try:
        molecule = str(VENV_BIN / "molecule")
        topology = REPO / "tests/topology"
        # `--destroy never` also skips the first destroy; this one clears any state an earlier run left.
        ok = timer.step("clean slate", [molecule, "destroy"], topology)
        ok = ok and timer.step("topology (molecule)", [molecule, "test", "--destroy", "never"], topology)
        if ok:  # figures only: printed for docs/benchmark.md, never a reason to fail
            timer.step("lab figures (wrk through S1)", [sys.executable, "tests/bench/lab_bench.py"], REPO)
        ok = ok and timer.step("failover matrix", failover, REPO)
    finally:
        timer.step("lab down", [*lab, "down"], REPO)
        timer.print_table()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
