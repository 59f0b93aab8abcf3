"""Small helpers shared by the lab modules."""

import os
import pathlib
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


class StepTimer:
    """Runs the steps of a suite, keeps going after a failure, prints a table of their times."""

    def __init__(self):
        self.rows = []

    def step(self, name, cmd, cwd):
        print(f"\n=== {name}: {' '.join(str(part) for part in cmd)}", flush=True)
        started = time.monotonic()
        # Ansible refuses a non-blocking stdin (as CI runners may hand down); nothing here reads it.
        code = subprocess.run(
            [str(part) for part in cmd], cwd=cwd, stdin=subprocess.DEVNULL, check=False
        ).returncode
        self.rows.append((name, time.monotonic() - started, "ok" if code == 0 else f"FAILED ({code})"))
        return code == 0

    def print_table(self):
        print("\n| step | seconds | result |\n|---|---:|---|")
        for name, seconds, result in self.rows:
            print(f"| {name} | {seconds:.0f} | {result} |")
