"""Runs role nginx_log_metrics's mtail program on a log with the real mtail: once
(`--one_shot`), or as S1 does, following the log and serving its metrics (MtailServer).

    samples = run_balancer_program(Path("access.log"))   # {(name, frozenset(labels)): value}
    with MtailServer(Path("access.log")) as mtail: ...    # mtail.address: host:port

Debian's `mtail` package gives /usr/bin/mtail (the Makefile's HOST_PACKAGES); `MTAIL` is None
without it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from extagram_testing.mariadb_server import free_port
from extagram_testing.processes import stop, wait_until_answers

PROGRAM = (
    Path(__file__).resolve().parents[2] / "roles/nginx_log_metrics/files/etc/mtail/extagram_balancer.mtail"
)
MTAIL = shutil.which("mtail")


def run_balancer_program(log: Path) -> dict[tuple[str, frozenset], float]:
    """The metrics the program makes of `log`, read from its start (mtail's own test mode)."""
    with tempfile.TemporaryDirectory(prefix="extagram-mtail-") as progs:
        # mtail loads the *.mtail files of a directory.
        shutil.copy(PROGRAM, Path(progs) / PROGRAM.name)
        result = subprocess.run(
            [
                *(MTAIL, "--one_shot", "--one_shot_format", "prometheus", "--emit_prog_label=false"),
                *("--port", "0", "--logtostderr", "--progs", progs, "--logs", str(log)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(result.stdout)
        for sample in family.samples
    }


def requests_by_labels(samples) -> dict[tuple[str, str, str], float]:
    """extagram_balancer_requests_total as {(upstream, cache, status): count}."""
    return {
        (labels["upstream"], labels["cache"], labels["status"]): value
        for (name, label_set), value in samples.items()
        for labels in [dict(label_set)]
        if name == "extagram_balancer_requests_total"
    }


class MtailServer:
    """The program in a real mtail following `log` from its end and serving on a free loopback
    port, as S1's runs (its unit's arguments: role nginx_log_metrics's /etc/default/mtail)."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._log = log
        self._running = contextlib.ExitStack()

    def __enter__(self) -> MtailServer:
        with contextlib.ExitStack() as starting:
            progs = starting.enter_context(tempfile.TemporaryDirectory(prefix="extagram-mtail-"))
            shutil.copy(PROGRAM, Path(progs) / PROGRAM.name)
            output = starting.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                [
                    *(MTAIL, "--progs", progs, "--logs", str(self._log), "--logtostderr"),
                    *("--address", "127.0.0.1", "--port", str(self.port), "--emit_prog_label=false"),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            starting.callback(stop, process)
            wait_until_answers(f"http://{self.address}/metrics", process, output)
            self._running = starting.pop_all()
        return self

    def __exit__(self, *_exc) -> None:
        self._running.close()
