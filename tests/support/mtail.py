"""Runs role nginx_log_metrics's mtail program on a log with the real mtail (`--one_shot`).

    samples = run_balancer_program(Path("access.log"))   # {(name, frozenset(labels)): value}

Debian's `mtail` package gives /usr/bin/mtail (the Makefile's HOST_PACKAGES); `MTAIL` is None
without it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

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
