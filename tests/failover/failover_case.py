"""One failover case as it runs: what it knows, the probe that watches the node come back, and the
statistics over its timeline.

The load records every request; the case cuts that record at the moment it injected the failure
and the moment it began the restore. Requests that ended before the failure are the baseline;
those that ended after it began and started before the restore are the failure phase, split
into the ones in flight at the failure and the fresh ones that started after it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from extagram_failover import loadgen, report
from extagram_failover.bounds import HALT_WAIT_MAX_S, LATENCY_FACTOR, LATENCY_SLACK_S, QUIET_WINDOW_S
from extagram_failover.loadgen import PAGE, PHOTO, POST, STATIC, percentile
from extagram_failover.site_client import SiteClient, describe

if TYPE_CHECKING:
    from extagram_failover.node_kinds import Node

READER_KINDS = (PAGE, PHOTO, STATIC)
MODES = ("stop", "halt")  # stop the node's unit (connections refused); halt its VM (packets vanish)


@dataclass
class Case:
    site: SiteClient
    node: Node
    mode: str  # one of MODES
    row: report.CaseRow
    # What the preflight found.
    host: str = ""  # the node's name in X-Served-By
    first_post_id: int = 0
    orphan_files_before: set[str] = field(default_factory=set)
    orphan_rows_before: int = 0
    boot_before: str | None = None
    known_photo: str | None = None
    # The failure and the restore.
    load: loadgen.Load | None = None
    probe: RecoveryProbe | None = None
    t_inject: float = 0.0  # just before the stop or halt command
    t_injected: float = 0.0  # once that command returned
    t_restore: float = 0.0  # the end of the failure phase
    t_back: float = 0.0  # the unit started, or the VM answering SSH again
    health_posts: list[loadgen.Result] = field(default_factory=list)
    # The load's record, cut by cut_timeline().
    records: list[loadgen.Result] = field(default_factory=list)
    base: list[loadgen.Result] = field(default_factory=list)
    failure: list[loadgen.Result] = field(default_factory=list)
    in_flight: list[loadgen.Result] = field(default_factory=list)
    fresh: list[loadgen.Result] = field(default_factory=list)

    @property
    def halted(self) -> bool:
        return self.mode == "halt"

    def expect(self, condition, problem: str) -> None:
        self.row.expect(condition, problem)

    def note(self, detail: str) -> None:
        self.row.note(detail)

    def cut_timeline(self, records: list[loadgen.Result]) -> None:
        self.records = records
        self.base = [r for r in records if r.end < self.t_inject]
        self.failure = [r for r in records if r.end >= self.t_inject and r.start < self.t_restore]
        self.in_flight = [r for r in self.failure if r.start < self.t_inject]
        self.fresh = [r for r in self.failure if r.start >= self.t_inject]

    def sent_after_injected(self, kinds) -> list[loadgen.Result]:
        """Requests of these kinds sent once the failure was in place."""
        return [r for r in self.fresh if r.kind in kinds and r.start >= self.t_injected]

    def served_during_failure(self) -> Counter:
        """Who answered the fresh requests the dead node affects (X-Served-By -> count)."""
        return Counter(r.served_by for r in self.fresh if r.kind in self.node.kind.affected)


class RecoveryProbe(threading.Thread):
    """Asks S1, from the start of the restore, whether the node is in service again."""

    def __init__(self, case: Case, timeout: float):
        super().__init__(name=f"probe-{case.node.name}", daemon=True)
        self.case = case
        self.deadline = time.monotonic() + timeout
        self.t_ok: float | None = None
        self.posts: list[loadgen.Result] = []
        self.attempts = 0
        self.last = ""
        self._halt = threading.Event()

    def check(self) -> bool:
        answer, in_service = self.case.node.kind.recovery_probe(self.case)
        if answer.kind == POST:
            self.posts.append(answer)
        self.last = describe(answer)
        return in_service

    def run(self):
        while not self._halt.is_set() and time.monotonic() < self.deadline:
            self.attempts += 1
            if self.check():
                self.t_ok = time.monotonic()
                return
            self._halt.wait(self.case.node.kind.probe_interval_s)

    def finish(self, timeout: float) -> float | None:
        self.join(timeout)
        self._halt.set()
        self.join(35)
        return self.t_ok


# -- statistics over a timeline --------------------------------------------------------------------


def latencies(results, kinds=None) -> list[float]:
    return [r.latency for r in results if kinds is None or r.kind in kinds]


def p(results, fraction, kinds=None):
    return percentile(latencies(results, kinds), fraction)


def fmt_s(value) -> str:
    return "-" if value is None else f"{value:.2f}s"


def kind_summary(label, results) -> str:
    parts = []
    for kind in (PAGE, PHOTO, STATIC, POST):
        chosen = [r for r in results if r.kind == kind]
        if not chosen:
            continue
        bad = sum(1 for r in chosen if not loadgen.is_ok(r))
        parts.append(
            f"{kind} {len(chosen)} (non-OK {bad}, p50 {fmt_s(p(chosen, 0.5))}, "
            f"p99 {fmt_s(p(chosen, 0.99))}, max {fmt_s(max(latencies(chosen)))})"
        )
    return f"{label}: " + "; ".join(parts)


def report_pair(base, failure, fraction, ratio=False) -> str:
    return report.latency_pair(p(base, fraction, READER_KINDS), p(failure, fraction, READER_KINDS), ratio)


def detection(results, t_from, t_to, bad):
    """Seconds from t_from until the affected requests are good again for QUIET_WINDOW_S.

    Returns (seconds or None if never, bad requests after that point: the balancer's periodic
    re-tries of the dead member, or anything else that went wrong later).
    """
    ordered = sorted((r for r in results if t_from <= r.start < t_to), key=lambda r: r.start)
    last_bad_end = None
    for index, result in enumerate(ordered):
        if bad(result):
            last_bad_end = max(last_bad_end or result.end, result.end)
            continue
        if result.start + QUIET_WINDOW_S > t_to:
            break
        window = [r for r in ordered[index:] if r.start < result.start + QUIET_WINDOW_S]
        if len(window) >= 3 and not any(bad(r) for r in window):
            seconds = 0.0 if last_bad_end is None else max(0.0, last_bad_end - t_from)
            return seconds, [r for r in ordered[index:] if bad(r)]
    return None, [r for r in ordered if bad(r)]


# -- latency judgements shared by several node kinds -----------------------------------------------


def expect_p99_near_baseline(case: Case, kinds) -> None:
    """Failure-phase p99 of these requests within LATENCY_FACTOR / LATENCY_SLACK_S of the baseline."""
    base_p99, fail_p99 = p(case.base, 0.99, kinds), p(case.failure, 0.99, kinds)
    if base_p99 is None or fail_p99 is None:
        return
    limit = max(LATENCY_FACTOR * base_p99, base_p99 + LATENCY_SLACK_S)
    case.expect(
        fail_p99 <= limit,
        f"{'/'.join(kinds)} p99 {fail_p99:.2f}s during the failure vs "
        f"{base_p99:.2f}s baseline (limit {limit:.2f}s)",
    )


def expect_halt_waits_bounded(case: Case, requests, slow) -> None:
    """After a halt: every request answered within S1's read timeout (plus slack)."""
    waited = [r for r in requests if r.latency > slow]
    worst = max((r.latency for r in requests), default=0.0)
    case.note(
        f"requests that waited for the vanished node: {len(waited)}, longest "
        f"{worst:.2f}s (limit {HALT_WAIT_MAX_S:.0f}s)"
    )
    case.expect(
        worst <= HALT_WAIT_MAX_S,
        f"a request took {worst:.2f}s after the halt "
        f"(limit {HALT_WAIT_MAX_S:.0f}s: S1's read timeout plus slack)",
    )
