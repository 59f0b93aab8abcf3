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
