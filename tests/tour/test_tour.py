"""Every command of the student tour (docs/tour/), run once against the lab, in the tour's order.

Run inside the lab namespace on a converged lab (`make up`), as `make test-tour` does:
    .venv/bin/python tests/lab/lab.py run .venv/bin/pytest -q tests/tour
Both languages hold the same commands (tests/tooling/test_tour_blocks.py checks it without a lab);
each runs once, with bash from the repository's root, as a student's shell inside the lab would.
The blocks depend on their order (the S4 chapter posts the photo the S5 chapter asks for): select
with -k only blocks that stand alone.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import tour_blocks

LAB = [".venv/bin/python", "tests/lab/lab.py"]
# A reading block makes a few SSH calls to TCG guests; an experiment stops a service, looks at the
# site, starts it again and waits (each wait is bounded by `timeout` inside the block).
TIMEOUT_S = {"tour": 90, "tour-experiment": 360}


def common_blocks() -> list[tour_blocks.Block]:
    by_language = tour_blocks.blocks_by_language()
    first, *others = by_language.values()
    for blocks in others:
        assert [b.same_in_every_language for b in blocks] == [b.same_in_every_language for b in first]
    return by_language["en"]


BLOCKS = common_blocks()


def block_id(block: tour_blocks.Block) -> str:
    chapter = "-".join(block.chapter.lower().split()[:3]).strip(":,.")
    return f"{block.line:04d}-{block.kind}-{chapter}"


def restart(services: list[tuple[str, str]]) -> None:
    """An experiment that failed half-way leaves no service stopped for the blocks after it."""
    for node, unit in services:
        subprocess.run([*LAB, "start-service", node, unit], cwd=tour_blocks.REPO, timeout=120, check=False)


def run(block: tour_blocks.Block) -> tuple[int, str]:
    """(exit status, stdout and stderr together) of a block run with bash, as a student would."""
    with subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", block.script],
        cwd=tour_blocks.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: a timeout ends the ssh and curl it started too
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=TIMEOUT_S[block.kind])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return -1, f"{output}\n(not finished within {TIMEOUT_S[block.kind]} s)"
    return proc.returncode, output


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_block(block: tour_blocks.Block) -> None:
    passed = False
    try:
        status, output = run(block)
        shown = f"$ {block.script}\n{output[-3000:]}"
        assert status == 0, f"exit status {status}\n{shown}"
        for text in block.expect:
            assert text.lower() in output.lower(), f"{text!r} not in the output\n{shown}"
        passed = True
    finally:
        if not passed:
            restart(tour_blocks.stopped_services(block.script))
