"""Small helpers shared by the lab modules."""

import collections
import os
import pathlib
import re
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
CACHE_DIR = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "extagram-lab"
STARTED = time.monotonic()


def log(message):
    print(f"[lab {time.monotonic() - STARTED:6.0f}s] {message}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kwargs):
    """Run a command, echoing it; fail loudly with its exit code."""
    log("$ " + " ".join(str(part) for part in cmd))
    return subprocess.run([str(part) for part in cmd], check=check, **kwargs)


def succeeds(cmd):
    """True when a quiet command exits 0 (a probe: failing is an answer, not an error)."""
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def output(cmd):
    """The stdout of a probe command, whatever its exit code (empty output is the answer then)."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


# Testinfra's two passes (pyproject.toml's `serial` marker): the tests that only read spread over
# workers (pytest-xdist), then the ones that stop services, post or burst S1's limits, alone.
# One worker per host core ("auto"): on two cores, 2 workers ran the read-only tests in 92 s, 4 in
# 98 s and 7 in 105 s, against 137 s without xdist (docs/lab.md); the guests share the host's cores.
VERIFY_WORKERS = "auto"
VERIFY_PASSES = {
    "in parallel": ["-m", "not serial", "-n", VERIFY_WORKERS],
    "alone": ["-m", "serial"],
}
# pytest's exit code when a pass selects no test (a role with no `serial` test): not a failure.
PYTEST_NOTHING_SELECTED = 5

# Lines of a failed step worth repeating under the table: CI shows only the end of the output.
FAILURE_LINE = re.compile(r"fatal:|FAILED|ERROR|Error|failed=[1-9]|unreachable=[1-9]|AssertionError|^E ")
FAILURE_EXCERPT_LINES = 12
FAILURE_LINE_CHARS = 400


class StepTimer:
    """Runs the steps of a suite, keeps going after a failure, prints a table of their times
    and, under it, the lines that say why each failed step failed."""

    def __init__(self, suite_budget_s=None):
        self.rows = []
        self.failure_lines = {}
        # When set, the table ends with the sum of its rows against this budget.
        self.suite_budget_s = suite_budget_s

    def record(self, name, seconds, result, budget_s=None):
        """A row for a step that ran elsewhere (its time is known, not measured here)."""
        self.rows.append((name, seconds, result, budget_s))

    def step(self, name, cmd, cwd, budget_s=None, *, env=None, ok_codes=(0,)):
        """Run `cmd` (with `env` added to this process's environment); True if it exits with one
        of `ok_codes`."""
        print(f"\n=== {name}: {' '.join(str(part) for part in cmd)}", flush=True)
        started = time.monotonic()
        failure_lines = collections.deque(maxlen=FAILURE_EXCERPT_LINES)
        # Ansible refuses a non-blocking stdin (as CI runners may hand down); nothing here reads it.
        with subprocess.Popen(
            [str(part) for part in cmd],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if FAILURE_LINE.search(line):
                    failure_lines.append(line.rstrip()[:FAILURE_LINE_CHARS])
        ok = process.returncode in ok_codes
        result = "ok" if ok else f"FAILED ({process.returncode})"
        self.record(name, time.monotonic() - started, result, budget_s)
        if not ok:
            self.failure_lines[name] = list(failure_lines)
        return ok

    def print_table(self):
        print("\n| step | seconds | budget | result |\n|---|---:|---:|---|")
        for name, seconds, result, budget_s in self.rows:
            over = budget_s is not None and seconds > budget_s
            budget = "-" if budget_s is None else f"{budget_s:.0f}" + (" OVER" if over else "")
            print(f"| {name} | {seconds:.0f} | {budget} | {result} |")
        self._print_total()
        for name, lines in self.failure_lines.items():
            print(f"\n{name} failed; its last lines that say why:")
            print("\n".join(f"  {line}" for line in lines) or "  (none matched; see the output above)")

    def _print_total(self):
        if self.suite_budget_s is None:
            return
        total = sum(row[1] for row in self.rows)
        verdict = "within" if total <= self.suite_budget_s else "OVER"
        print(
            f"\nWhole run: {total / 60:.1f} min, {verdict} the {self.suite_budget_s / 60:.0f}-min budget"
            + ("" if verdict == "within" else " (a slow change: find the step marked OVER above)")
        )
