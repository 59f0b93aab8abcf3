"""What the promotion drill runs and reads: playbooks with their recap, and MariaDB on the nodes."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from extagram_failover.labctl import LabError, ssh
from extagram_lab.common import REPO

PLAYBOOK_TIMEOUT_S = 1800
LOG_DIR = REPO / ".cache" / "promote-drill"
# The written primary (playbooks/db_promote.yml): the drill removes it once S7 is primary again.
PRIMARY_FILE = REPO / "inventory" / "vagrant" / "group_vars" / "all" / "db_primary.yml"
_RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass
class Run:
    name: str
    code: int
    seconds: float
    output: str

    @property
    def changed(self) -> dict[str, int]:
        """Hosts that reported a change in the recap, with their counts."""
        return changed_hosts(self.output)


def changed_hosts(output: str) -> dict[str, int]:
    return {m["host"]: int(m["changed"]) for m in _RECAP.finditer(output) if int(m["changed"])}


def playbook(name: str, *args: str) -> Run:
    """Run ansible-playbook from the repository; its whole output goes to .cache/promote-drill/."""
    began = time.monotonic()
    proc = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=PLAYBOOK_TIMEOUT_S,
        check=False,
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / f"{name}.log").write_text(proc.stdout + proc.stderr)
    run = Run(name, proc.returncode, time.monotonic() - began, proc.stdout + proc.stderr)
    print(f"[{name}] {' '.join(args)}: exit {run.code} in {run.seconds:.0f} s", flush=True)
    return run


def sql(node: str, query: str) -> str:
    """One value (or tab-separated row) from the node's MariaDB, as root on its socket."""
    code, out = ssh(node, f'sudo mariadb --batch --skip-column-names --execute "{query}"', timeout=60)
    if code != 0:
        raise LabError(f"{node}: {query}: {out}")
    return out.strip()


def replica_state(node: str) -> dict[str, str]:
    """SHOW SLAVE STATUS as a dict ({} when the node replicates nothing)."""
    code, out = ssh(node, 'sudo mariadb --execute "SHOW SLAVE STATUS\\G"', timeout=60)
    if code != 0:
        raise LabError(f"{node}: SHOW SLAVE STATUS: {out}")
    pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def replicates(node: str, primary_address: str) -> bool:
    state = replica_state(node)
    return (
        state.get("Master_Host") == primary_address
        and state.get("Slave_IO_Running") == "Yes"
        and state.get("Slave_SQL_Running") == "Yes"
    )


def caught_up(replica: str, primary: str, timeout_s: int = 60) -> bool:
    """The replica applied everything the primary has written (MASTER_GTID_WAIT)."""
    position = sql(primary, "SELECT @@gtid_binlog_pos")
    return sql(replica, f"SELECT MASTER_GTID_WAIT('{position}', {timeout_s})") == "0"


def posts(node: str) -> str:
    return sql(node, "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM extagram.posts")


class Checks:
    """A drill's PASS/FAIL lines, and the failures it collects."""

    def __init__(self):
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}: {what}", flush=True)
        if not ok:
            self.failures.append(what)


def run_drill(drill: Checks, *steps) -> None:
    """The steps in order (a LabError stops them), the verdict, and the exit status."""
    try:
        for step in steps:
            step()
    except LabError as error:
        drill.failures.append(str(error))
        print(f"  STOPPED: {error}")
    print(f"drill: {'FAILED ' + '; '.join(drill.failures) if drill.failures else 'passed'}")
    sys.exit(1 if drill.failures else 0)
