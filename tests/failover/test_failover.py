"""Failure matrix through S1: each backend node, service stopped and VM halted, under load.

Each case: baseline (load only) -> inject the failure -> failure phase (load continues) ->
restore (start the unit, or power the VM on and let it boot on its own) -> recovery checks:
the node is healthy by itself (units active and enabled, NFS mounted), S1 uses it again, the
site works end to end, every acknowledged post is stored exactly once with its photo, and no
post was half stored. Cases are independent: `pytest tests/failover -k s5-halt` runs one.

Bounds are generous because the lab runs seven VMs under QEMU TCG on two cores: latency is
compared with the same case's baseline (ratio + slack), absolute limits only catch hangs.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

import labctl
import loadgen
import report
import topology
from loadgen import PAGE, PHOTO, POST, STATIC, percentile
from topology import describe, friendly_503, upload_unavailable_page


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


BASELINE_S = _env("FAILOVER_BASELINE_S", 8)
FAILURE_S = _env("FAILOVER_FAILURE_S", 20)

# Failure-phase p99 of the affected requests may be this many times the baseline p99, or the
# baseline p99 plus this many seconds, whichever is larger (one connect timeout per probe of a
# dead member is expected; a hang or a missing retry is not).
LATENCY_FACTOR = 5.0
LATENCY_SLACK_S = 3.0
# A halted redundant node: a GET S1 had already put on a pooled keep-alive connection to it waits
# S1's read timeout (feed 8 s, static 3 s per try) before another node answers it. That wait is the
# design's bound; how long S1 keeps trying the dead node is DETECT_MAX_S below.
HALT_WAIT_MAX_S = 10.0
# S1 must route around a dead redundant member within this time (connect timeout x max_fails).
DETECT_MAX_S = 15.0
QUIET_WINDOW_S = 4.0
# Database down: every request must still be answered (503) within these bounds.
DB_DOWN_P99_MAX_S = 8.0
# Upload node or every feed node down: the friendly 503 page must come quickly (connect timeout,
# not a read timeout).
REFUSAL_PAGE_MAX_S = 10.0
# Uploads while a static node is down: absolute cap on top of the relative check.
UPLOAD_MAX_S = 15.0
# From the node being back (unit started / VM answering SSH) until S1 uses it again.
RECOVER_AFTER_STOP_MAX_S = 20.0
RECOVER_AFTER_BOOT_MAX_S = 150.0
BOOT_TIMEOUT_S = 420.0
NODE_HEALTHY_TIMEOUT_S = 180.0
NFS_BACK_TIMEOUT_S = 180.0

READERS = (PAGE, PHOTO, STATIC)
# The requests a dead node of each role should affect.
AFFECTED = {"feed": (PAGE,), "upload": (POST,), "media": (PHOTO,), "assets": (STATIC,),
            "database": (PAGE, POST)}
REDUNDANT = ("feed", "media", "assets")

CASES = [pytest.param(node, kind, id=f"{node}-{kind}")
         for kind in ("stop", "halt") for node in topology.failure_nodes()]


def load_settings() -> loadgen.LoadSettings:
    return loadgen.LoadSettings(
        readers=int(_env("FAILOVER_READERS", 2)),
        writers=int(_env("FAILOVER_WRITERS", 2)),
        post_interval=_env("FAILOVER_POST_INTERVAL", 2.0),
        read_timeout=20.0,
        post_timeout=30.0,
        max_seconds=BASELINE_S + FAILURE_S + 60,
        max_requests=8000,
    )


# -- small statistics helpers ----------------------------------------------------------------

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
        parts.append(f"{kind} {len(chosen)} (non-OK {bad}, p50 {fmt_s(p(chosen, .5))}, "
                     f"p99 {fmt_s(p(chosen, .99))}, max {fmt_s(max(latencies(chosen)))})")
    return f"{label}: " + "; ".join(parts)


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


# -- the recovery probe ----------------------------------------------------------------------

class RecoveryProbe(threading.Thread):
    """Asks S1, from the start of the restore, whether the node is in service again."""

    def __init__(self, site: topology.Site, spec: topology.NodeSpec, host: str,
                 photo: str | None, timeout: float):
        super().__init__(name=f"probe-{spec.name}", daemon=True)
        self.site, self.spec, self.host, self.photo = site, spec, host, photo
        self.deadline = time.monotonic() + timeout
        self.t_ok: float | None = None
        self.posts: list[loadgen.Result] = []
        self.attempts = 0
        self.last = ""
        self._halt = threading.Event()

    def check(self) -> bool:
        role = self.spec.role
        if role == "feed":
            r = self.site.get("/api/posts")
            ok = loadgen.page_ok(r) and r.served_by == self.host
        elif role == "upload":
            r = self.site.post(f"{self.spec.name}-probe", timeout=30)
            self.posts.append(r)
            ok = r.status == 303
        elif role == "media":
            r = self.site.get(self.photo or "/storage/none", kind=PHOTO)
            ok = loadgen.photo_ok(r) and r.served_by == self.host
        elif role == "assets":
            r = self.site.get("/static/style.css", kind=STATIC)
            ok = loadgen.static_ok(r) and r.served_by == self.host
        else:  # database: the feed renders again
            r = self.site.get("/")
            ok = loadgen.page_ok(r)
        self.last = describe(r)
        return ok

    def run(self):
        interval = 1.0 if self.spec.role == "upload" else 0.5
        while not self._halt.is_set() and time.monotonic() < self.deadline:
            self.attempts += 1
            if self.check():
                self.t_ok = time.monotonic()
                return
            self._halt.wait(interval)

    def finish(self, timeout: float) -> float | None:
        self.join(timeout)
        self._halt.set()
        self.join(35)
        return self.t_ok


# -- the cases -------------------------------------------------------------------------------

@pytest.mark.parametrize("node,kind", CASES)
def test_failure(node, kind, site, results):
    row = {"case": f"{node}-{kind}", "verdict": "ERROR", "details": []}
    results.append(row)
    problems: list[str] = []
    try:
        run_case(site, site.specs[node], kind, row, problems)
    except labctl.LabError as error:
        problems.append(str(error))
    row["verdict"] = "pass" if not problems else f"FAIL ({len(problems)})"
    row["details"] += [f"PROBLEM: {problem}" for problem in problems]
    assert not problems, "\n".join(problems)


def run_case(site, spec, kind, row, problems):  # noqa: C901 - one linear story per case
    node, role = spec.name, spec.role
    details = row["details"]

    def expect(condition, message):
        if not condition:
            problems.append(message)

    # -- preflight: a healthy site and node, and what exists before the case -----------------
    site.wait_healthy(timeout=180)
    site.wait_node_healthy(node, timeout=NODE_HEALTHY_TIMEOUT_S)
    host = site.hostname(node)
    first_id = site.newest_post_id()
    orphan_files_before, orphan_rows_before = site.orphans()
    boot_before = labctl.boot_id(node) if kind == "halt" else None
    known_photos = loadgen.photo_paths(site.get("/api/posts"))

    # -- baseline, failure, restore ------------------------------------------------------------
    load = loadgen.Load(site.base_url, tag=f"{site.run_id}-{node}-{kind}",
                        settings=load_settings())
    probe = None
    restored = False
    t_inject = t_injected = t_restore = t_back = None
    try:
        load.start()
        time.sleep(BASELINE_S)
        t_inject = time.monotonic()
        if kind == "stop":
            labctl.stop_service(node, spec.stop_unit)
        else:
            labctl.halt(node)
        t_injected = time.monotonic()
        time.sleep(max(0.0, t_injected + FAILURE_S - time.monotonic()))
        if kind == "stop":  # did the failure hold (no socket activation, no restart policy)?
            held = labctl.units_state(node, [spec.stop_unit]).get(spec.stop_unit, ("?", "?"))
            expect(held[0] != "active",
                   f"{spec.stop_unit} on {node} was active again at the end of the failure "
                   f"phase (socket activation or a restart policy started it): the stop did "
                   f"not hold, so the case did not test an outage")
        t_restore = time.monotonic()
        load.stop()
        probe = RecoveryProbe(site, spec, host, known_photos[0] if known_photos else None,
                              timeout=BOOT_TIMEOUT_S + RECOVER_AFTER_BOOT_MAX_S)
        probe.start()
        if kind == "stop":
            labctl.start_service(node, spec.stop_unit)
        else:
            row["boot"] = f"{labctl.start(node, timeout=BOOT_TIMEOUT_S):.0f}"
        t_back = time.monotonic()
        restored = True
    finally:
        load.stop()
        if not restored:  # leave the node running whatever failed above
            try:
                if kind == "stop":
                    labctl.start_service(node, spec.stop_unit)
                else:
                    labctl.start(node, timeout=BOOT_TIMEOUT_S)
            except labctl.LabError as error:
                problems.append(f"restore failed: {error}")
            if probe is not None:
                probe.finish(0)

    recover_max = RECOVER_AFTER_STOP_MAX_S if kind == "stop" else RECOVER_AFTER_BOOT_MAX_S
    t_ok = probe.finish(recover_max)
    recover = None if t_ok is None else max(0.0, t_ok - t_back)
    row["recover"] = "never" if recover is None else f"{recover:.1f}"
    expect(recover is not None and recover <= recover_max,
           f"S1 did not use {node} again within {recover_max:.0f}s of it being back "
           f"(last probe: {probe.last}; {probe.attempts} attempts)")

    # -- the node healthy by itself, then the whole site ---------------------------------------
    node_wait = site.wait_node_healthy(node, timeout=NODE_HEALTHY_TIMEOUT_S)
    details.append(f"{node} healthy (units active+enabled, local checks) {node_wait:.0f}s "
                   "after the restore returned")
    if kind == "halt":
        boot_after = labctl.boot_id(node)
        expect(boot_after and boot_after != boot_before, f"{node} did not reboot (boot id)")
    health_wait, health_posts = site.wait_healthy(timeout=120, with_post=True,
                                                  tag=f"{node}-{kind}-after")
    details.append(f"site healthy through S1 (page, API, photo, CSS, post) {health_wait:.0f}s "
                   "after that")
    if role == "upload" and kind == "halt":
        check_nfs_clients(site, health_posts[-1], details, expect)

    # -- the timeline ---------------------------------------------------------------------------
    everything = load.snapshot()
    base = [r for r in everything if r.end < t_inject]
    failure = [r for r in everything if r.end >= t_inject and r.start < t_restore]
    in_flight = [r for r in failure if r.start < t_inject]
    fresh = [r for r in failure if r.start >= t_inject]
    details.append(kind_summary("baseline", base))
    details.append(kind_summary("failure", failure))
    details.append(f"inject took {t_injected - t_inject:.1f}s; {len(in_flight)} request(s) "
                   f"in flight at the failure: "
                   + (", ".join(describe(r) for r in in_flight[:4]) or "none"))

    # Baseline: clean, and the node really carried traffic before it died.
    base_bad = [r for r in base if not loadgen.is_ok(r)]
    expect(not base_bad, f"baseline not clean ({len(base_bad)} non-OK): "
           + "; ".join(describe(r) for r in base_bad[:3]))
    for kind_needed in (PAGE, STATIC, POST):
        expect(any(r.kind == kind_needed for r in base), f"no {kind_needed} request in baseline")
    served = {kind_name: Counter(r.served_by for r in base if r.kind == kind_name)
              for kind_name in READERS}
    details.append("baseline served by: " + "; ".join(
        f"{kind_name} {dict(counter)}" for kind_name, counter in served.items() if counter))
    evidence_kind = {"feed": PAGE, "media": PHOTO, "assets": STATIC}.get(role)
    if evidence_kind:
        expect(served[evidence_kind][host] > 0,
               f"baseline: no {evidence_kind} served by {host}, so its failure proves nothing")

    # Failure phase: what is acceptable depends on the role that died.
    def acceptable(r):
        if r.kind == POST and r.start < t_inject:
            return True  # a non-idempotent request cut by the failure: outcome unknown
        if loadgen.is_ok(r):
            return True
        if role == "upload" and r.kind == POST:
            return upload_unavailable_page(r)
        if role == "database" and r.kind in (PAGE, POST):
            return friendly_503(r) or (r.kind == POST and upload_unavailable_page(r))
        return False

    non_ok = [r for r in failure if not loadgen.is_ok(r)]
    wrong = [r for r in failure if not acceptable(r)]
    row["requests"] = len(failure)
    row["failed"] = f"{len(non_ok)} / {len(wrong)}"
    expect(not wrong, f"{len(wrong)} unacceptable answer(s) while {node} was down: "
           + "; ".join(describe(r) for r in wrong[:4]))
    tracebacks = [r for r in everything if topology.has_traceback(r)]
    expect(not tracebacks, "traceback text in a body: " + "; ".join(
        describe(r) for r in tracebacks[:2]))

    row["p50"] = report_pair(base, failure, .5)
    row["p99"] = report_pair(base, failure, .99, ratio=True)
    affected = AFFECTED[role]
    served_fail = Counter(r.served_by for r in fresh if r.kind in affected)
    details.append(f"failure phase {'/'.join(affected)} served by: {dict(served_fail)}")

    if role in REDUNDANT:
        base_p95 = p(base, .95, affected) or 0.1
        slow = max(3 * base_p95, base_p95 + 0.5)

        def bad(r):
            return (not loadgen.is_ok(r)) or r.latency > slow or \
                (r.served_by == host and r.start >= t_injected)

        chosen = [r for r in fresh if r.kind in affected]
        detect, relapses = detection(chosen, t_inject, t_restore, bad)
        row["detect"] = "never" if detect is None else f"{detect:.1f}"
        details.append(f"slow threshold {slow:.2f}s; later slow/failed {'/'.join(affected)} "
                       f"requests (S1 re-trying the dead member): {len(relapses)}")
        expect(detect is not None and detect <= DETECT_MAX_S,
               f"{'/'.join(affected)} requests were slow or failing until {row['detect']}s "
               f"after {node} died (limit {DETECT_MAX_S:.0f}s): S1 kept waiting on the dead "
               f"member")
        routed = [r for r in fresh if r.kind in affected and r.start >= t_injected
                  and r.served_by == host]
        expect(not routed, f"{len(routed)} request(s) answered by {host} after it was stopped")
        if kind == "stop":  # refused connections are retried at once: latency as in the baseline
            check_latency(base, failure, affected, expect)
        else:
            check_halt_waits(chosen, slow, expect, details)
    if role == "feed":
        survivors = set(served_fail) - {host}
        expect(len(survivors) >= 1 and all(r.served_by in survivors for r in fresh
                                           if r.kind == PAGE and r.start >= t_injected),
               f"pages after the failure not all served by the survivor(s): {dict(served_fail)}")
    if role == "media":
        broken = [r for r in failure if r.kind == PHOTO and not loadgen.photo_ok(r)]
        details.append(f"broken images while {node} was down: {len(broken)}")
        expect(sum(1 for r in fresh if r.kind == PHOTO) > 0, "no photo requested while down")
        check_latency(base, failure, (POST,), expect)
        slowest = max(latencies(failure, (POST,)) or [0])
        expect(slowest <= UPLOAD_MAX_S, f"an upload took {slowest:.1f}s while {node} was down")
    if role == "upload":
        after = [r for r in fresh if r.kind == POST and r.start >= t_injected]
        friendly = [r for r in after if upload_unavailable_page(r)]
        expect(friendly, f"no 'uploads temporarily unavailable' page while {node} was down: "
               + "; ".join(describe(r) for r in after[:2]))
        slowest = max((r.latency for r in friendly), default=0)
        expect(slowest <= REFUSAL_PAGE_MAX_S,
               f"the unavailable page took up to {slowest:.1f}s (limit {REFUSAL_PAGE_MAX_S}s)")
        check_latency(base, failure, (PAGE,), expect)
    if role == "database":
        answered = [r for r in fresh if r.kind == PAGE and r.start >= t_injected]
        expect(any(friendly_503(r) for r in answered),
               "no friendly 503 page while the database was down: "
               + "; ".join(describe(r) for r in answered[:2]))
        worst = percentile([r.latency for r in fresh if r.kind in (PAGE, POST)], .99)
        details.append(f"p99 of page/post answers while the database was down: {fmt_s(worst)}")
        expect(worst is not None and worst <= DB_DOWN_P99_MAX_S,
               f"answers while the database was down took p99 {fmt_s(worst)} "
               f"(limit {DB_DOWN_P99_MAX_S}s): workers pile up")
        check_settled(site, base, expect, details)

    # -- posts: every acknowledged one stored once, with its photo; nothing half stored ---------
    posts = load.posts + (probe.posts if probe else []) + health_posts
    refused = {r.marker for r in posts
               if r.start >= (t_injected or 0) and (400 <= r.status < 500 or r.status == 503)}
    verdict = site.verify_posts(first_id, posts, refused)
    row["posts"] = (f"{verdict['acked']} / {verdict['found']} / {len(verdict['lost'])} / "
                    f"{len(verdict['duplicated'])}")
    details.append(f"posts: {verdict['acked']} acknowledged (303), {verdict['found']} found; "
                   f"{verdict['photos_checked']} photos fetched back; {len(refused)} refused; "
                   f"stored without acknowledgement (cut by the failure): "
                   f"{len(verdict['stored_unacknowledged'])}")
    expect(not verdict["lost"], f"acknowledged posts missing: {verdict['lost'][:5]}")
    expect(not verdict["duplicated"], f"posts stored twice: {verdict['duplicated'][:5]}")
    expect(not verdict["stored_despite_error"],
           f"posts stored although refused: {verdict['stored_despite_error'][:5]}")
    expect(not verdict["without_photo"], f"posts stored without their photo: "
           f"{verdict['without_photo'][:5]}")
    expect(not verdict["broken_photos"], f"photos of stored posts not retrievable: "
           f"{verdict['broken_photos'][:3]}")
    orphan_files, orphan_rows = site.orphans()
    new_orphans = sorted(orphan_files - orphan_files_before)
    details.append(f"half-stored: {len(new_orphans)} new photo file(s) without a DB row, "
                   f"photo rows without a post {orphan_rows_before} -> {orphan_rows}")
    expect(not new_orphans, f"{len(new_orphans)} photo file(s) on the upload node without a "
           f"post (half-stored uploads), e.g. {new_orphans[:3]}")
    expect(orphan_rows <= orphan_rows_before,
           f"photo rows without a post: {orphan_rows_before} -> {orphan_rows}")


def report_pair(base, failure, fraction, ratio=False) -> str:
    return report.latency_pair(p(base, fraction, READERS), p(failure, fraction, READERS), ratio)


def check_latency(base, failure, kinds, expect):
    base_p99, fail_p99 = p(base, .99, kinds), p(failure, .99, kinds)
    if base_p99 is None or fail_p99 is None:
        return
    limit = max(LATENCY_FACTOR * base_p99, base_p99 + LATENCY_SLACK_S)
    expect(fail_p99 <= limit, f"{'/'.join(kinds)} p99 {fail_p99:.2f}s during the failure vs "
           f"{base_p99:.2f}s baseline (limit {limit:.2f}s)")


def check_halt_waits(requests, slow, expect, details):
    """After a halt: every request answered within S1's read timeout (plus slack)."""
    waited = [r for r in requests if r.latency > slow]
    worst = max((r.latency for r in requests), default=0.0)
    details.append(f"requests that waited for the vanished node: {len(waited)}, longest "
                   f"{worst:.2f}s (limit {HALT_WAIT_MAX_S:.0f}s)")
    expect(worst <= HALT_WAIT_MAX_S, f"a request took {worst:.2f}s after the halt "
           f"(limit {HALT_WAIT_MAX_S:.0f}s: S1's read timeout plus slack)")


def check_settled(site, base, expect, details):
    """After the database returns, pages are as fast as before (no backlog of stuck workers)."""
    samples = [site.get("/") for _ in range(10)]
    bad = [r for r in samples if not loadgen.page_ok(r)]
    after_p50 = percentile([r.latency for r in samples], .5)
    base_p50 = p(base, .5, (PAGE,)) or 0.1
    details.append(f"page p50 after recovery {fmt_s(after_p50)} (baseline {fmt_s(base_p50)})")
    expect(not bad, "pages failing after the database came back: "
           + "; ".join(describe(r) for r in bad[:2]))
    expect(after_p50 is not None and after_p50 <= 3 * base_p50 + 0.5,
           f"pages still slow after the database came back: p50 {fmt_s(after_p50)}")


def check_nfs_clients(site, post, details, expect):
    """After the NFS server rebooted, every client mount serves a photo written after it."""
    photo = next((path for path in loadgen.photo_paths(site.get("/api/posts"))), None)
    clients = [name for name, spec in site.specs.items() if spec.role in ("media", "assets")]
    for client in clients:
        began = time.monotonic()
        status, mounted = "", (False, "")
        while time.monotonic() - began < NFS_BACK_TIMEOUT_S:
            mounted = site.mount_health(client)
            status = site.serves_photo_locally(client, photo) if photo else "no photo"
            if mounted[0] and status == "200":
                break
            time.sleep(3)
        waited = time.monotonic() - began
        details.append(f"{client}: NFS mount serving a new photo {waited:.0f}s after the site "
                       f"was healthy (status {status}; {mounted[1]})")
        expect(mounted[0] and status == "200",
               f"{client} does not serve {photo} from its NFS mount {NFS_BACK_TIMEOUT_S:.0f}s "
               f"after the upload node returned: {status}, {mounted[1]}")


# -- every feed node at once: not survivable, but it must say so -------------------------------

def test_every_feed_node_stopped(site, results):
    """With no feed node left, S1 answers a friendly 503 page at once; photos and CSS still load."""
    feeds = [name for name, spec in site.specs.items() if spec.role == "feed"]
    row = {"case": "all-feed-stop", "verdict": "ERROR", "details": []}
    results.append(row)
    problems: list[str] = []
    site.wait_healthy(timeout=180)
    photo = next(iter(loadgen.photo_paths(site.get("/api/posts"))), None)
    for node in feeds:
        labctl.stop_service(node, "extagram")
    try:
        pages = [site.get(path) for path in ("/", "/extagram.php", "/api/posts") * 3]
        bad = [r for r in pages if not friendly_503(r) or r.latency > REFUSAL_PAGE_MAX_S]
        row["requests"] = str(len(pages))
        row["failed"] = f"{sum(r.status != 200 for r in pages)} / {len(bad)}"
        row["p99"] = f"- → {report.ms(percentile([r.latency for r in pages], .99))}"
        problems += [f"not the friendly 503 page: {describe(r)}" for r in bad[:3]]
        checks = [(loadgen.static_ok, site.get("/static/style.css", kind=STATIC))]
        if photo:
            checks.append((loadgen.photo_ok, site.get(photo, kind=PHOTO)))
        problems += [f"broken while the feed is down: {describe(r)}" for ok, r in checks if not ok(r)]
    finally:
        for node in feeds:
            labctl.start_service(node, "extagram")
    try:
        waited, _posts = site.wait_healthy(timeout=60)
        row["recover"] = report.seconds(waited)
    except labctl.LabError as error:
        problems.append(str(error))
    row["verdict"] = "pass" if not problems else f"FAIL ({len(problems)})"
    row["details"] += [f"PROBLEM: {problem}" for problem in problems]
    assert not problems, "\n".join(problems)


# -- the balancer itself: one reboot -----------------------------------------------------------

BALANCER_REBOOT_MAX_S = 420.0


def test_balancer_reboot(site, results):
    node = next(name for name, spec in site.specs.items() if spec.role == "balancer")
    row = {"case": f"{node}-reboot", "verdict": "ERROR", "details": []}
    results.append(row)
    problems: list[str] = []
    site.wait_healthy(timeout=180)
    first_id = site.newest_post_id()
    before = labctl.boot_id(node)
    began = time.monotonic()
    labctl.ssh(node, "sudo systemctl reboot", timeout=30)  # the connection may drop: no check
    try:
        _value, _waited = labctl.wait_for(
            lambda: (labctl.boot_id(node) or before) != before, timeout=BALANCER_REBOOT_MAX_S,
            interval=3, what=f"{node} to reboot")
        row["boot"] = f"{time.monotonic() - began:.0f}"
        wait, posts = site.wait_healthy(timeout=180, with_post=True, tag=f"{node}-reboot")
        downtime = time.monotonic() - began
        row["recover"] = f"{downtime:.0f}"
        row["details"].append(f"reboot command to a working site: {downtime:.0f}s "
                              f"(SSH back at {row['boot']}s)")
        healthy, reason = site.node_health(node)
        if not healthy:
            problems.append(f"{node} after reboot: {reason}")
        pages = [site.get("/api/posts") for _ in range(12)]
        feeds = {r.served_by for r in pages if loadgen.page_ok(r)}
        row["details"].append(f"pages after the reboot served by {sorted(feeds)}")
        feed_hosts = {site.hostname(name) for name, spec in site.specs.items()
                      if spec.role == "feed"}
        if feeds != feed_hosts:
            problems.append(f"after the reboot S1 uses {sorted(feeds)}, expected "
                            f"{sorted(feed_hosts)}")
        verdict = site.verify_posts(first_id, posts, set())
        row["posts"] = f"{verdict['acked']} / {verdict['found']} / {len(verdict['lost'])} / " \
                       f"{len(verdict['duplicated'])}"
        if verdict["lost"] or verdict["broken_photos"]:
            problems.append(f"post after the reboot: {verdict}")
    except labctl.LabError as error:
        problems.append(str(error))
    row["verdict"] = "pass" if not problems else f"FAIL ({len(problems)})"
    row["details"] += [f"PROBLEM: {problem}" for problem in problems]
    assert not problems, "\n".join(problems)
