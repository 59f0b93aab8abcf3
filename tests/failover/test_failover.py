"""Failure matrix through S1: each backend node, service stopped and VM halted, under load.

Each case: baseline (load only) -> inject the failure -> failure phase (load continues) ->
restore (start the unit, or power the VM on and let it boot on its own) -> recovery checks:
the node is healthy by itself (units active and enabled, NFS mounted), S1 uses it again, the
site works end to end, every acknowledged post is stored exactly once with its photo, and no
post was half stored. Cases are independent: `pytest tests/failover -k s5-halt` runs one.
What differs between node kinds is one row each in node_kinds.KINDS; the limits are bounds.py.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from extagram_failover import labctl, loadgen, node_kinds, report
from extagram_failover.bounds import (
    BALANCER_REBOOT_MAX_S,
    BASELINE_S,
    BOOT_TIMEOUT_S,
    DETECT_MAX_S,
    FAILURE_S,
    NODE_HEALTHY_TIMEOUT_S,
    POST_INTERVAL_S,
    READER_THREADS,
    RECOVER_AFTER_BOOT_MAX_S,
    RECOVER_AFTER_STOP_MAX_S,
    REFUSAL_PAGE_MAX_S,
    WRITER_THREADS,
)
from extagram_failover.failover_case import (
    MODES,
    READER_KINDS,
    Case,
    RecoveryProbe,
    detection,
    expect_halt_waits_bounded,
    expect_p99_near_baseline,
    kind_summary,
    p,
    report_pair,
)
from extagram_failover.loadgen import PAGE, PHOTO, POST, STATIC, percentile
from extagram_failover.site_client import describe, friendly_503, has_traceback

CASES = [
    pytest.param(node.name, mode, id=f"{node.name}-{mode}")
    for mode in MODES
    for node in node_kinds.matrix_nodes()
]


def load_settings() -> loadgen.LoadSettings:
    return loadgen.LoadSettings(
        readers=READER_THREADS,
        writers=WRITER_THREADS,
        post_interval=POST_INTERVAL_S,
        read_timeout=20.0,
        post_timeout=30.0,
        max_seconds=BASELINE_S + FAILURE_S + 60,
        max_requests=8000,
    )


@pytest.mark.parametrize("node,mode", CASES)
def test_failure(node, mode, site, results):
    row = report.CaseRow(results, f"{node}-{mode}")
    try:
        run_case(Case(site, node_kinds.nodes()[node], mode, row))
    except labctl.LabError as error:
        row.problems.append(str(error))
    problems = row.conclude()
    assert not problems, "\n".join(problems)


def run_case(case: Case) -> None:
    preflight(case)
    fail_and_restore_under_load(case)
    expect_recovery(case)
    expect_healthy_again(case)
    judge_timeline(case)
    expect_posts_stored(case)
    expect_nothing_half_stored(case)


# -- preflight: a healthy site and node, and what exists before the case ---------------------------


def preflight(case: Case) -> None:
    node = case.node
    case.site.wait_healthy(timeout=180)
    node_kinds.wait_node_healthy(node, case.site, timeout=NODE_HEALTHY_TIMEOUT_S)
    case.host = node_kinds.served_by_name(node)
    case.first_post_id = case.site.newest_post_id()
    case.orphan_files_before, case.orphan_rows_before = node_kinds.orphans()
    case.boot_before = labctl.boot_id(node.name) if case.halted else None
    known_photos = loadgen.photo_paths(case.site.get("/api/posts"))
    case.known_photo = known_photos[0] if known_photos else None


# -- baseline, failure, restore --------------------------------------------------------------------


def fail_and_restore_under_load(case: Case) -> None:
    case.load = loadgen.Load(
        case.site.base_url, tag=f"{case.site.run_id}-{case.node.name}-{case.mode}", settings=load_settings()
    )
    restored = False
    try:
        case.load.start()
        time.sleep(BASELINE_S)
        inject_failure(case)
        time.sleep(max(0.0, case.t_injected + FAILURE_S - time.monotonic()))
        if not case.halted:
            expect_stop_held(case)
        case.t_restore = time.monotonic()
        case.load.stop()
        case.probe = RecoveryProbe(case, timeout=BOOT_TIMEOUT_S + RECOVER_AFTER_BOOT_MAX_S)
        case.probe.start()
        boot_s = bring_back(case)
        if boot_s is not None:
            case.row["boot"] = f"{boot_s:.0f}"
        case.t_back = time.monotonic()
        restored = True
    finally:
        case.load.stop()
        if not restored:
            bring_back_after_error(case)


def inject_failure(case: Case) -> None:
    case.t_inject = time.monotonic()
    if case.halted:
        labctl.halt(case.node.name)
    else:
        labctl.stop_service(case.node.name, case.node.kind.unit)
    case.t_injected = time.monotonic()


def expect_stop_held(case: Case) -> None:
    """Did the failure hold (no socket activation, no restart policy)?"""
    unit = case.node.kind.unit
    held = labctl.units_state(case.node.name, [unit]).get(unit, ("?", "?"))
    case.expect(
        held[0] != "active",
        f"{unit} on {case.node.name} was active again at the end of the failure "
        f"phase (socket activation or a restart policy started it): the stop did "
        f"not hold, so the case did not test an outage",
    )


def bring_back(case: Case) -> float | None:
    """Start the unit, or power the VM on and wait for SSH (returns the seconds that took)."""
    if case.halted:
        return labctl.start(case.node.name, timeout=BOOT_TIMEOUT_S)
    labctl.start_service(case.node.name, case.node.kind.unit)
    return None


def bring_back_after_error(case: Case) -> None:
    """Leave the node running whatever failed during the failure or the restore."""
    try:
        bring_back(case)
    except labctl.LabError as error:
        case.row.problems.append(f"restore failed: {error}")
    if case.probe is not None:
        case.probe.finish(0)


# -- recovery: S1 uses the node again, the node and the site are healthy ---------------------------


def expect_recovery(case: Case) -> None:
    recover_max = RECOVER_AFTER_BOOT_MAX_S if case.halted else RECOVER_AFTER_STOP_MAX_S
    t_ok = case.probe.finish(recover_max)
    recover = None if t_ok is None else max(0.0, t_ok - case.t_back)
    case.row["recover"] = "never" if recover is None else f"{recover:.1f}"
    case.expect(
        recover is not None and recover <= recover_max,
        f"S1 did not use {case.node.name} again within {recover_max:.0f}s of it being back "
        f"(last probe: {case.probe.last}; {case.probe.attempts} attempts)",
    )


def expect_healthy_again(case: Case) -> None:
    """The node healthy by itself, then the whole site; then the kind's checks after a halt."""
    node = case.node
    node_wait = node_kinds.wait_node_healthy(node, case.site, timeout=NODE_HEALTHY_TIMEOUT_S)
    case.note(
        f"{node.name} healthy (units active+enabled, local checks) {node_wait:.0f}s "
        "after the restore returned"
    )
    if case.halted:
        boot_after = labctl.boot_id(node.name)
        case.expect(boot_after and boot_after != case.boot_before, f"{node.name} did not reboot (boot id)")
    health_wait, case.health_posts = case.site.wait_healthy(
        timeout=120, with_post=True, tag=f"{node.name}-{case.mode}-after"
    )
    case.note(f"site healthy through S1 (page, API, photo, CSS, post) {health_wait:.0f}s after that")
    if case.halted:
        for check in node.kind.after_halt_checks:
            check(case)


# -- the timeline: baseline, failure phase, what the dead node's kind allows -----------------------


def judge_timeline(case: Case) -> None:
    case.cut_timeline(case.load.snapshot())
    describe_phases(case)
    expect_clean_baseline(case)
    expect_acceptable_answers(case)
    if case.node.kind.redundant:
        expect_routed_around(case)
    for check in case.node.kind.failure_checks:
        check(case)


def describe_phases(case: Case) -> None:
    case.note(kind_summary("baseline", case.base))
    case.note(kind_summary("failure", case.failure))
    case.note(
        f"inject took {case.t_injected - case.t_inject:.1f}s; {len(case.in_flight)} request(s) "
        f"in flight at the failure: " + (", ".join(describe(r) for r in case.in_flight[:4]) or "none")
    )


def expect_clean_baseline(case: Case) -> None:
    """The baseline is clean, and the node really carried traffic before it died."""
    base_bad = [r for r in case.base if not loadgen.is_ok(r)]
    case.expect(
        not base_bad,
        f"baseline not clean ({len(base_bad)} non-OK): " + "; ".join(describe(r) for r in base_bad[:3]),
    )
    for kind_needed in (PAGE, STATIC, POST):
        case.expect(any(r.kind == kind_needed for r in case.base), f"no {kind_needed} request in baseline")
    served = {
        kind_name: Counter(r.served_by for r in case.base if r.kind == kind_name)
        for kind_name in READER_KINDS
    }
    case.note(
        "baseline served by: "
        + "; ".join(f"{kind_name} {dict(counter)}" for kind_name, counter in served.items() if counter)
    )
    carries = case.node.kind.carries
    if carries:
        case.expect(
            served[carries][case.host] > 0,
            f"baseline: no {carries} served by {case.host}, so its failure proves nothing",
        )


def acceptable(case: Case, answer: loadgen.Result) -> bool:
    """Acceptable during the failure phase: a success, or an answer the dead node's kind allows."""
    if answer.kind == POST and answer.start < case.t_inject:
        return True  # a non-idempotent request cut by the failure: outcome unknown
    return loadgen.is_ok(answer) or case.node.kind.also_acceptable_while_down(answer)


def expect_acceptable_answers(case: Case) -> None:
    non_ok = [r for r in case.failure if not loadgen.is_ok(r)]
    wrong = [r for r in case.failure if not acceptable(case, r)]
    case.row["requests"] = len(case.failure)
    case.row["failed"] = f"{len(non_ok)} / {len(wrong)}"
    case.expect(
        not wrong,
        f"{len(wrong)} unacceptable answer(s) while {case.node.name} was down: "
        + "; ".join(describe(r) for r in wrong[:4]),
    )
    tracebacks = [r for r in case.records if has_traceback(r)]
    case.expect(not tracebacks, "traceback text in a body: " + "; ".join(describe(r) for r in tracebacks[:2]))
    case.row["p50"] = report_pair(case.base, case.failure, 0.5)
    case.row["p99"] = report_pair(case.base, case.failure, 0.99, ratio=True)
    affected = case.node.kind.affected
    case.note(f"failure phase {'/'.join(affected)} served by: {dict(case.served_during_failure())}")


def expect_routed_around(case: Case) -> None:
    """A redundant node died: S1 stops using it quickly, and requests stay within their bounds."""
    affected, host = case.node.kind.affected, case.host
    base_p95 = p(case.base, 0.95, affected) or 0.1
    slow = max(3 * base_p95, base_p95 + 0.5)

    def bad(r):
        return (
            (not loadgen.is_ok(r)) or r.latency > slow or (r.served_by == host and r.start >= case.t_injected)
        )

    chosen = [r for r in case.fresh if r.kind in affected]
    detect, relapses = detection(chosen, case.t_inject, case.t_restore, bad)
    case.row["detect"] = "never" if detect is None else f"{detect:.1f}"
    case.note(
        f"slow threshold {slow:.2f}s; later slow/failed {'/'.join(affected)} "
        f"requests (S1 re-trying the dead member): {len(relapses)}"
    )
    case.expect(
        detect is not None and detect <= DETECT_MAX_S,
        f"{'/'.join(affected)} requests were slow or failing until {case.row['detect']}s "
        f"after {case.node.name} died (limit {DETECT_MAX_S:.0f}s): S1 kept waiting on the dead "
        f"member",
    )
    routed = [r for r in case.sent_after_injected(affected) if r.served_by == host]
    case.expect(not routed, f"{len(routed)} request(s) answered by {host} after it was stopped")
    if case.halted:
        expect_halt_waits_bounded(case, chosen, slow)
    else:  # refused connections are retried at once: latency as in the baseline
        expect_p99_near_baseline(case, affected)


# -- posts: every acknowledged one stored once, with its photo; nothing half stored ----------------


def expect_posts_stored(case: Case) -> None:
    posts = case.load.posts + (case.probe.posts if case.probe else []) + case.health_posts
    refused = {
        r.marker for r in posts if r.start >= case.t_injected and (400 <= r.status < 500 or r.status == 503)
    }
    verdict = case.site.verify_posts(case.first_post_id, posts, refused)
    case.row["posts"] = (
        f"{verdict['acked']} / {verdict['found']} / {len(verdict['lost'])} / {len(verdict['duplicated'])}"
    )
    case.note(
        f"posts: {verdict['acked']} acknowledged (303), {verdict['found']} found; "
        f"{verdict['photos_checked']} photos fetched back; {len(refused)} refused; "
        f"stored without acknowledgement (cut by the failure): "
        f"{len(verdict['stored_unacknowledged'])}"
    )
    case.expect(not verdict["lost"], f"acknowledged posts missing: {verdict['lost'][:5]}")
    case.expect(not verdict["duplicated"], f"posts stored twice: {verdict['duplicated'][:5]}")
    case.expect(
        not verdict["stored_despite_error"],
        f"posts stored although refused: {verdict['stored_despite_error'][:5]}",
    )
    case.expect(
        not verdict["without_photo"], f"posts stored without their photo: {verdict['without_photo'][:5]}"
    )
    case.expect(
        not verdict["broken_photos"],
        f"photos of stored posts not retrievable: {verdict['broken_photos'][:3]}",
    )


def expect_nothing_half_stored(case: Case) -> None:
    orphan_files, orphan_rows = node_kinds.orphans()
    new_orphans = sorted(orphan_files - case.orphan_files_before)
    case.note(
        f"half-stored: {len(new_orphans)} new photo file(s) without a DB row, "
        f"photo rows without a post {case.orphan_rows_before} -> {orphan_rows}"
    )
    case.expect(
        not new_orphans,
        f"{len(new_orphans)} photo file(s) on the upload node without a "
        f"post (half-stored uploads), e.g. {new_orphans[:3]}",
    )
    case.expect(
        orphan_rows <= case.orphan_rows_before,
        f"photo rows without a post: {case.orphan_rows_before} -> {orphan_rows}",
    )


# -- every feed node at once: not survivable, but it must say so -----------------------------------


@pytest.mark.parametrize("case_id", ["all-feed-stop"])
def test_every_feed_node_stopped(case_id, site, results):
    """With no feed node left, S1 answers the shared pages from its cache, and a page it has no copy
    of with a friendly 503 at once; photos and CSS still load."""
    feeds = node_kinds.of_kind("feed")
    row = report.CaseRow(results, case_id)
    site.wait_healthy(timeout=180)
    shared = ("/", "/extagram.php", "/api/posts")
    photo = next(iter(loadgen.photo_paths(site.get("/api/posts"))), None)
    for path in shared:  # a copy of each exists, as on any site with visitors
        site.get(path)
    for node in feeds:
        labctl.stop_service(node.name, node.kind.unit)
    try:
        pages = [site.get(path) for path in shared * 3]
        # Keys nobody asked before, so no copy can exist, even on a lab that ran this case already.
        never_copied = [site.get(f"/?before={random.randrange(10**9, 10**12)}") for _ in range(3)]
        bad = [r for r in pages if not (loadgen.page_ok(r) and r.served_by == loadgen.S1_CACHE)]
        bad += [r for r in never_copied if not friendly_503(r) or r.latency > REFUSAL_PAGE_MAX_S]
        row["requests"] = str(len(pages) + len(never_copied))
        row["failed"] = f"{sum(r.status != 200 for r in pages + never_copied)} / {len(bad)}"
        row["p99"] = f"- → {report.ms(percentile([r.latency for r in pages], 0.99))}"
        row.problems += [f"not a cached copy or the friendly 503 page: {describe(r)}" for r in bad[:3]]
        checks = [(loadgen.static_ok, site.get("/static/style.css", kind=STATIC))]
        if photo:
            checks.append((loadgen.photo_ok, site.get(photo, kind=PHOTO)))
        row.problems += [f"broken while the feed is down: {describe(r)}" for ok, r in checks if not ok(r)]
    finally:
        for node in feeds:
            labctl.start_service(node.name, node.kind.unit)
    try:
        waited, _posts = site.wait_healthy(timeout=60)
        row["recover"] = report.seconds(waited)
    except labctl.LabError as error:
        row.problems.append(str(error))
    problems = row.conclude()
    assert not problems, "\n".join(problems)


# -- the balancer itself: one reboot ---------------------------------------------------------------


@pytest.mark.parametrize("node", [node_kinds.of_kind("balancer")[0].name], ids=lambda name: f"{name}-reboot")
def test_balancer_reboot(node, site, results):
    row = report.CaseRow(results, f"{node}-reboot")
    site.wait_healthy(timeout=180)
    first_id = site.newest_post_id()
    before = labctl.boot_id(node)
    began = time.monotonic()
    labctl.ssh(node, "sudo systemctl reboot", timeout=30)  # the connection may drop: no check
    try:
        labctl.wait_for(
            lambda: (labctl.boot_id(node) or before) != before,
            timeout=BALANCER_REBOOT_MAX_S,
            interval=3,
            what=f"{node} to reboot",
        )
        row["boot"] = f"{time.monotonic() - began:.0f}"
        _wait, posts = site.wait_healthy(timeout=180, with_post=True, tag=f"{node}-reboot")
        downtime = time.monotonic() - began
        row["recover"] = f"{downtime:.0f}"
        row.note(f"reboot command to a working site: {downtime:.0f}s (SSH back at {row['boot']}s)")
        expect_balancer_healthy(node, site, row)
        expect_posts_after_reboot(site, first_id, posts, row)
    except labctl.LabError as error:
        row.problems.append(str(error))
    problems = row.conclude()
    assert not problems, "\n".join(problems)


def expect_balancer_healthy(node, site, row) -> None:
    """The balancer is healthy by itself and sends pages to every feed node again."""
    problem = node_kinds.node_problem(node_kinds.nodes()[node], site)
    row.expect(problem is None, f"{node} after reboot: {problem}")
    pages = [site.get(loadgen.uncached_page()) for _ in range(12)]
    feeds = {r.served_by for r in pages if loadgen.page_ok(r)}
    row.note(f"pages after the reboot served by {sorted(feeds)}")
    feed_hosts = {node_kinds.served_by_name(feed) for feed in node_kinds.of_kind("feed")}
    row.expect(
        feeds == feed_hosts, f"after the reboot S1 uses {sorted(feeds)}, expected {sorted(feed_hosts)}"
    )


def expect_posts_after_reboot(site, first_id, posts, row) -> None:
    verdict = site.verify_posts(first_id, posts, set())
    row["posts"] = (
        f"{verdict['acked']} / {verdict['found']} / {len(verdict['lost'])} / {len(verdict['duplicated'])}"
    )
    row.expect(not (verdict["lost"] or verdict["broken_photos"]), f"post after the reboot: {verdict}")
