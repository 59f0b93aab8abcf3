"""Thin, bounded wrappers around tests/lab/lab.py and SSH checks on the nodes.

Every call has a timeout: under QEMU TCG a VM boot takes minutes and an SSH command seconds,
and a hung call must fail the case, not the whole session.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

from extagram_lab import inventory

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
# The upload node's export (photos/ and static/), mounted at the same path on the static nodes.
EXPORT_DIR = inventory.shared_setting("extagram_shared_export_dir")
PHOTOS_DIR = f"{EXPORT_DIR}/photos"


class LabError(AssertionError):
    pass


def lab(*args: str, timeout: float = 120) -> None:
    """Run a lab verb (inside the namespace already, lab.py detects it); raise if it fails."""
    try:
        proc = subprocess.run(
            [*LAB, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise LabError(f"lab.py {' '.join(args)} did not finish within {timeout:.0f}s") from error
    if proc.returncode != 0:
        raise LabError(
            f"lab.py {' '.join(args)} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}"
        )


def ssh(node: str, command: str, timeout: float = 30) -> tuple[int, str]:
    """(exit code, stdout+stderr) of a shell command on a node; 255 / -1 when unreachable."""
    try:
        proc = subprocess.run(
            [*LAB, "ssh", node, command],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, f"ssh {node} timed out after {timeout:.0f}s"
    # lab.py logs the command it runs on stderr; keep the remote output only.
    noise = [line for line in proc.stderr.splitlines() if not line.startswith("[lab ")]
    return proc.returncode, (proc.stdout + "\n".join(noise)).strip()


def ssh_output(node: str, command: str, timeout: float = 30) -> str:
    """The output of a command that must succeed on a node; LabError with its end otherwise."""
    code, out = ssh(node, command, timeout)
    if code != 0:
        raise LabError(f"{node}: {command[:80]}... failed ({code}): {out[-600:]}")
    return out


def stop_service(node: str, unit: str) -> None:
    lab("stop-service", node, unit, timeout=90)


def start_service(node: str, unit: str) -> None:
    lab("start-service", node, unit, timeout=120)


def halt(node: str) -> None:
    lab("halt", node, timeout=60)


def start(node: str, timeout: float = 420) -> float:
    """Power on and wait for SSH; returns the seconds it took."""
    began = time.monotonic()
    lab("start", node, timeout=timeout)
    return time.monotonic() - began


def why(node: str) -> str:
    """lab.py's account of a node that does not answer (its VM, this host, its console)."""
    try:
        proc = subprocess.run(
            [*LAB, "why", node], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return f"lab.py why {node} did not finish within 60s"
    return (proc.stdout + proc.stderr).strip()


def boot_id(node: str) -> str | None:
    code, out = ssh(node, "cat /proc/sys/kernel/random/boot_id", timeout=20)
    return out.strip() if code == 0 else None


def units_state(node: str, units: list[str]) -> dict[str, tuple[str, str]]:
    """unit -> (is-active, is-enabled)."""
    command = "; ".join(
        f"echo {unit} $(systemctl is-active {unit}) $(systemctl is-enabled {unit})" for unit in units
    )
    _code, out = ssh(node, command, timeout=30)
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in units:
            states[parts[0]] = (parts[1], parts[2])
    return states


def local_http_status(node: str, url: str, timeout: float = 10) -> str:
    """HTTP status of `url` fetched on the node itself (its ports are firewalled to S1 only)."""
    code, out = ssh(
        node, f"curl -s -o /dev/null -m {int(timeout)} -w '%{{http_code}}' '{url}'", timeout=timeout + 20
    )
    return out.strip()[-3:] if code == 0 else f"ssh-rc={code}"


def mysql(query: str, timeout: float = 30) -> list[list[str]]:
    """Rows of a query run as root on the database node (tab separated, no headers)."""
    node = inventory.group("database")[0].name
    escaped = query.replace('"', '\\"')
    code, out = ssh(node, f'sudo mysql -N -B extagram -e "{escaped}"', timeout=timeout)
    if code != 0:
        raise LabError(f"mysql on {node} failed ({code}): {out[-400:]}")
    return [line.split("\t") for line in out.splitlines() if line]


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    """Poll until predicate() is truthy; returns (value, seconds waited). Raises on timeout."""
    began = time.monotonic()
    last = None
    while True:
        last = predicate()
        if last:
            return last, time.monotonic() - began
        if time.monotonic() - began >= timeout:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
