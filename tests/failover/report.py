"""The results table of a failover run: one row per case, printed and written as Markdown."""

from __future__ import annotations

import datetime
import os
import pathlib
import platform

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
ACCEL_FILE = pathlib.Path("/run/extagram-lab/accel")

COLUMNS = [
    ("case", "case"),
    ("requests", "requests (fail phase)"),
    ("failed", "non-OK / unacceptable"),
    ("p50", "p50 ms base → fail"),
    ("p99", "p99 ms base → fail (×)"),  # noqa: RUF001 - the multiplication sign is meant
    ("detect", "detect s"),
    ("recover", "recover s"),
    ("boot", "boot s"),
    ("posts", "posts acked / found / lost / dup"),
    ("verdict", "verdict"),
]


class CaseRow:
    """One case's row while the case runs: its columns, its details, and the problems it found.

    The row joins the table at once (verdict ERROR), so a case that crashes still shows up.
    """

    def __init__(self, rows: list[dict], case: str):
        self.columns: dict = {"case": case, "verdict": "ERROR", "details": []}
        rows.append(self.columns)
        self.problems: list[str] = []

    def __getitem__(self, column: str):
        return self.columns[column]

    def __setitem__(self, column: str, value) -> None:
        self.columns[column] = value

    def note(self, detail: str) -> None:
        self.columns["details"].append(detail)

    def expect(self, condition, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def conclude(self) -> list[str]:
        """The verdict, and every problem appended to the details; returns the problems."""
        self.columns["verdict"] = "pass" if not self.problems else f"FAIL ({len(self.problems)})"
        self.columns["details"] += [f"PROBLEM: {problem}" for problem in self.problems]
        return self.problems


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def latency_pair(base: float | None, fail: float | None, ratio: bool = False) -> str:
    text = f"{ms(base)} → {ms(fail)}"
    if ratio and base and fail is not None:
        text += f" (×{fail / base:.1f})"  # noqa: RUF001 - the multiplication sign is meant
    return text


def machine() -> str:
    driver = ACCEL_FILE.read_text().strip() if ACCEL_FILE.exists() else ""
    accel = {"qemu": "TCG", "kvm": "KVM"}.get(driver, driver or "unknown accel")
    return f"{platform.node()}: {os.cpu_count()} cores, QEMU {accel}, 7 VMs, Linux {platform.release()}"


def table(rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(title for _key, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(key, "-")) for key, _title in COLUMNS) + " |")
    return "\n".join(lines)


def document(rows: list[dict], duration: float) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        "# Failover run",
        "",
        f"- date: {now}",
        f"- machine: {machine()}",
        f"- duration: {duration / 60:.1f} min for {len(rows)} case(s)",
        "",
        table(rows),
        "",
        "Latencies are over reader requests (feed page/API, photos, static files) started in the "
        "phase; *detect* is the time from the failure until requests to the affected route are "
        "fast and correct again; *recover* is from the node being back (service started, or "
        "SSH answering after a boot) until S1 uses it again.",
    ]
    details = [row for row in rows if row.get("details")]
    if details:
        parts += ["", "## Details", ""]
        for row in details:
            parts.append(f"### {row['case']}")
            parts += [f"- {line}" for line in row["details"]]
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def write(rows: list[dict], duration: float) -> pathlib.Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "latest.md"
    path.write_text(document(rows, duration))
    return path
