"""Starting and stopping the servers the tests run (Prometheus, mtail, Gunicorn, MariaDB) as processes."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from typing import IO

START_TIMEOUT_SECONDS = 30


def output_of(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")


def wait_until_answers(url: str, process: subprocess.Popen, log: IO[bytes]) -> None:
    """Until `url` answers 200; raises with the process's output if it ends or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{output_of(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet
            time.sleep(0.2)
    raise RuntimeError(f"{process.args[0]} did not answer {url} in time:\n{output_of(log)}")


def stop(process: subprocess.Popen, grace_seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL after `grace_seconds`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
