"""The commands of the student tour (docs/tour/{es,en}/README.md), as the tests read them.

A block a student runs is a fenced block whose info string is `sh tour` (it only reads) or
`sh tour-experiment` (it stops a service and starts it again). Lines right after the closing
fence of the form `<!-- expect: TEXT -->` name text its output must contain (case-insensitive:
curl prints header names in lower case over HTTP/2, capitalised over HTTP/1.1). Comment lines
inside a block are the reader's language and are left out of the command; everything else must be
the same, in the same order, in both languages. Stdlib only: the fast tests need no lab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOUR_DIR = REPO / "docs" / "tour"
LANGUAGES = ("es", "en")
KINDS = ("tour", "tour-experiment")

_FENCE = re.compile(r"^```(\S*)(?:[ \t]+(\S+))?[ \t]*$")
_EXPECT = re.compile(r"^<!--\s*expect:\s*(.*?)\s*-->$")
_HEADING = re.compile(r"^#{1,3}\s+(.*)$")


@dataclass(frozen=True)
class Block:
    kind: str  # "tour" or "tour-experiment"
    script: str  # the commands, comment lines left out
    expect: tuple[str, ...]  # text the output must contain
    chapter: str  # the heading above it, in the file's language
    line: int  # where the block starts in its file

    @property
    def same_in_every_language(self) -> tuple[str, str, tuple[str, ...]]:
        return self.kind, self.script, self.expect


def tour_file(language: str) -> Path:
    return TOUR_DIR / language / "README.md"


def _command_lines(body: list[str]) -> str:
    return "\n".join(line for line in body if not line.lstrip().startswith("#")).strip()


def parse(text: str) -> list[Block]:
    """Every marked block of a Markdown text, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    chapter = ""
    index = 0
    while index < len(lines):
        heading = _HEADING.match(lines[index])
        if heading:
            chapter = heading.group(1)
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start = index
        end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith("```")), len(lines))
        body = lines[index + 1 : end]
        index = end + 1
        expect = []
        while index < len(lines) and (match := _EXPECT.match(lines[index].strip())):
            expect.append(match.group(1))
            index += 1
        if fence.group(1) == "sh" and fence.group(2) in KINDS:
            blocks.append(Block(fence.group(2), _command_lines(body), tuple(expect), chapter, start + 1))
    return blocks


def blocks_by_language() -> dict[str, list[Block]]:
    return {language: parse(tour_file(language).read_text()) for language in LANGUAGES}


# -- what makes a command unbounded ----------------------------------------------------------------

_CURL = re.compile(r"\bcurl\b([^|;&)]*)")
_CURL_BOUND = re.compile(r"(?:^|\s)(?:-m\s*\d|--max-time\s+\d|-[a-zA-Z]*m\s+\d)")
_FOLLOW = re.compile(r"\b(?:tail|journalctl|less)\b[^|;&]*\s(?:-[a-zA-Z]*[fF]\b|--follow)")
_LOOP = re.compile(r"\b(?:until|while)\b")
_INTERACTIVE_SSH = re.compile(r"lab\.py ssh \S+\s*$")


def unbounded(script: str) -> list[str]:
    """Why a block could run for ever or wait for a keyboard: [] when it cannot."""
    problems = []
    for line in script.replace("\\\n", " ").splitlines():
        if re.search(r"\bwatch\b", line):
            problems.append(f"watch: {line}")
        if _FOLLOW.search(line):
            problems.append(f"follows a log: {line}")
        for match in _CURL.finditer(line):
            if not _CURL_BOUND.search(match.group(1)):
                problems.append(f"curl without -m/--max-time: {line}")
        if re.search(r"\bjournalctl\b", line) and not re.search(r"\s(?:-n\s*\d|--lines)", line):
            problems.append(f"journalctl without -n: {line}")
        if _LOOP.search(line) and not re.search(r"\btimeout\s+\d", line):
            problems.append(f"loop without timeout: {line}")
        if _INTERACTIVE_SSH.search(line):
            problems.append(f"interactive ssh: {line}")
    return problems


_STOP = re.compile(r"lab\.py stop-service (\S+) (\S+)")
_START = re.compile(r"lab\.py start-service (\S+) (\S+)")


def stopped_services(script: str) -> list[tuple[str, str]]:
    """(node, unit) of every service an experiment stops."""
    return _STOP.findall(script)


def restarted_services(script: str) -> list[tuple[str, str]]:
    return _START.findall(script)
