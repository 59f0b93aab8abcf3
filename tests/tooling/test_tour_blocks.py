"""The student tour's commands without a lab: both languages hold the same blocks in the same
order, every block ends by itself, and every experiment starts again what it stopped. The lab runs
them in tests/tour (make test-tour)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "tests" / "tour" / "tour_blocks.py"
_SPEC = importlib.util.spec_from_file_location("tour_blocks", _PATH)
tour_blocks = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = tour_blocks  # its dataclass looks its module up there
_SPEC.loader.exec_module(tour_blocks)

BY_LANGUAGE = tour_blocks.blocks_by_language()
BLOCKS = BY_LANGUAGE["en"]


def test_both_languages_have_the_same_commands_in_the_same_order():
    spanish = [block.same_in_every_language for block in BY_LANGUAGE["es"]]
    english = [block.same_in_every_language for block in BY_LANGUAGE["en"]]
    for index, (es, en) in enumerate(zip(spanish, english, strict=False)):
        assert es == en, f"block {index + 1} differs:\nes: {es}\nen: {en}"
    assert len(spanish) == len(english)


def shell_lines(text):
    """Every command line of every sh block, marked or not, without the reader's comments."""
    blocks = re.findall(r"^```sh[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    lines = (re.sub(r"\s+# .*$", "", line) for block in blocks for line in block.splitlines())
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def headings(text):
    """How many headings of each level, outside code blocks (whose comments start with #)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return [len(re.findall(rf"^{'#' * level} ", prose, re.MULTILINE)) for level in (1, 2, 3)]


@pytest.mark.parametrize("page", ["README.md", "troubleshooting.md"])
def test_both_languages_have_the_same_sections_and_shell_commands(page):
    es, en = ((tour_blocks.TOUR_DIR / language / page).read_text() for language in ("es", "en"))
    assert headings(es) == headings(en)
    assert shell_lines(es) == shell_lines(en)


def test_the_tour_has_reading_blocks_and_experiments():
    kinds = [block.kind for block in BLOCKS]
    assert kinds.count("tour") >= 10 and kinds.count("tour-experiment") >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: f"line-{block.line}")
def test_every_block_is_bounded(block):
    assert block.script, "an empty block"
    assert not tour_blocks.unbounded(block.script)


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.kind == "tour-experiment"], ids=lambda b: f"line-{b.line}"
)
def test_every_experiment_starts_what_it_stopped_and_waits(block):
    stopped = tour_blocks.stopped_services(block.script)
    assert stopped, "an experiment stops a service"
    assert set(stopped) <= set(tour_blocks.restarted_services(block.script))
    last_stop = max(block.script.rfind(f"stop-service {node} {unit}") for node, unit in stopped)
    assert block.script.rfind("start-service") > last_stop
    assert "timeout " in block.script[block.script.rfind("start-service") :], "waits until it is healthy"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "tour"], ids=lambda b: f"line-{b.line}")
def test_reading_blocks_change_nothing(block):
    for verb in ("stop-service", "start-service", "halt", " start ", "destroy", "provision", " up"):
        assert f"lab.py{verb}" not in block.script.replace("lab.py ", "lab.py"), verb


def test_the_parser_reads_markers_expectations_and_leaves_comments_out():
    text = "\n".join(
        [
            "## S9: a chapter",
            "```sh tour",
            "# a comment in the reader's language",
            "curl -sS -m 5 https://example.invalid/",
            "```",
            "<!-- expect: status 200 -->",
            "<!-- expect: x-served-by -->",
            "```sh",
            "make up",
            "```",
            "```sh tour-experiment",
            "lab.py stop-service s9 nginx",
            "```",
        ]
    )
    first, second = tour_blocks.parse(text)
    assert first == tour_blocks.Block(
        "tour", "curl -sS -m 5 https://example.invalid/", ("status 200", "x-served-by"), "S9: a chapter", 2
    )
    assert second.kind == "tour-experiment" and second.expect == ()


@pytest.mark.parametrize(
    ("script", "bounded"),
    [
        ("curl -sS -m 10 https://x/", True),
        ("curl -sS --max-time 10 https://x/", True),
        ("curl -sS https://x/", False),
        ("lab.py ssh s1 'sudo journalctl -u nginx -n 5 --no-pager'", True),
        ("lab.py ssh s1 'sudo journalctl -u nginx -f'", False),
        ("lab.py ssh s1 'sudo journalctl -u nginx'", False),
        ("lab.py ssh s1 'tail -f /var/log/x'", False),
        ("watch date", False),
        ("timeout 60 bash -c 'until true; do sleep 1; done'", True),
        ("until true; do sleep 1; done", False),
        (".venv/bin/python tests/lab/lab.py ssh s1", False),
    ],
)
def test_what_counts_as_unbounded(script, bounded):
    assert (not tour_blocks.unbounded(script)) is bounded
