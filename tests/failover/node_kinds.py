"""The kinds of node in the lab, one row each in KINDS: what runs there, how to tell on the node
that it is healthy, what proves S1 uses it again, and what visitors must see while it is dead.

The nodes come from the inventory the lab uses (extagram_lab.inventory); a node's kind is the
first row whose inventory group lists it. Units and checks follow the roles: feed and upload
nodes run `extagram` (Gunicorn :8000), media and assets nodes `nginx` (:80) on a read-only NFS
mount of the upload node's export, the database node `mariadb`, the upload node also
`nfs-server`, the balancer `nginx`. Adding a kind is one row of KINDS, naming small functions
like the ones above it.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from extagram_failover import labctl, loadgen
from extagram_failover.bounds import (
    DB_DOWN_P99_MAX_S,
    HALT_WAIT_MAX_S,
    NFS_BACK_TIMEOUT_S,
    PAGE_STALL_MAX_S,
    REFUSAL_PAGE_MAX_S,
    REPLICA_CATCH_UP_S,
    STALL_GRACE_S,
    UPLOAD_MAX_S,
)
from extagram_failover.failover_case import Case, expect_p99_near_baseline, fmt_s, latencies, p
from extagram_failover.loadgen import PAGE, PHOTO, POST, STATIC, Result, percentile
from extagram_failover.site_client import SiteClient, describe, friendly_503, upload_unavailable_page
from extagram_lab import inventory

APP_PORT = inventory.shared_setting("extagram_shared_app_port")
STATIC_PORT = inventory.shared_setting("extagram_shared_static_port")
PHOTO_FILE = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")

# A check on the node itself: None when fine, else what is wrong.
LocalCheck = Callable[["Node", SiteClient], "str | None"]
# Asked through S1 while the node comes back: (the answer, whether S1 uses the node again).
RecoveryCheck = Callable[[Case], "tuple[Result, bool]"]
# A judgement on a case: adds details and problems to the case's row.
CaseCheck = Callable[[Case], None]


# -- local checks: on the node, not through S1 -----------------------------------------------------


def app_answers_healthz(node: Node, _site: SiteClient) -> str | None:
    status = labctl.local_http_status(node.name, f"http://{node.address}:{APP_PORT}/healthz")
    return None if status == "200" else f"/healthz on {node.name}:{APP_PORT} answered {status}"


def mount_health(node: Node) -> tuple[bool, str]:
    """The NFS export is mounted and readable within a bounded time."""
    code, out = labctl.ssh(
        node.name,
        f"findmnt -n -o FSTYPE,OPTIONS {labctl.EXPORT_DIR} && "
        f"timeout 15 ls {labctl.PHOTOS_DIR} > /dev/null && echo readable",
        timeout=40,
    )
    if code != 0 or "readable" not in out:
        return False, f"NFS export on {node.name} not mounted/readable: {out[-200:]!r}"
    if not out.split()[0].startswith("nfs"):
        return False, f"{labctl.EXPORT_DIR} on {node.name} is {out.split()[0]}, not NFS"
    return True, "ok"


def export_mounted(node: Node, _site: SiteClient) -> str | None:
    mounted, reason = mount_health(node)
    return None if mounted else reason


def serves_css_locally(node: Node, _site: SiteClient) -> str | None:
    status = labctl.local_http_status(node.name, f"http://{node.address}:{STATIC_PORT}/static/style.css")
    return None if status == "200" else f"/static/style.css on {node.name}:{STATIC_PORT} answered {status}"


def mysql_answers(node: Node, _site: SiteClient) -> str | None:
    code, out = labctl.ssh(node.name, "sudo mysql -N -B -e 'SELECT 1'", timeout=30)
    return None if code == 0 and out.strip()[-1:] == "1" else f"mysql on {node.name}: {out[-200:]}"


def feed_page_through_it(_node: Node, site: SiteClient) -> str | None:
    """The balancer's own check: it is the way in, so ask it for the feed page."""
    page = site.get("/")
    return None if loadgen.page_ok(page) else describe(page)


# -- recovery probes: through S1, from the start of the restore ------------------------------------


def feed_answered_by_node(case: Case) -> tuple[Result, bool]:
    answer = case.site.get(loadgen.uncached_page())
    return answer, loadgen.page_ok(answer) and answer.served_by == case.host


def post_accepted(case: Case) -> tuple[Result, bool]:
    answer = case.site.post(f"{case.node.name}-probe", timeout=30)
    return answer, answer.status == 303


def photo_answered_by_node(case: Case) -> tuple[Result, bool]:
    answer = case.site.get(case.known_photo or "/storage/none", kind=PHOTO)
    return answer, loadgen.photo_ok(answer) and answer.served_by == case.host


def css_answered_by_node(case: Case) -> tuple[Result, bool]:
    answer = case.site.get("/static/style.css", kind=STATIC)
    return answer, loadgen.static_ok(answer) and answer.served_by == case.host


# -- failure-phase answers a visitor may get besides a success -------------------------------------


def no_failure_answer(_answer: Result) -> bool:
    return False


def upload_refused_politely(answer: Result) -> bool:
    return answer.kind == POST and upload_unavailable_page(answer)


def database_down_answer(answer: Result) -> bool:
    """Only posts may be refused (politely): every page is read from the feed nodes' replicas."""
    return answer.kind == POST and (friendly_503(answer) or upload_unavailable_page(answer))


# -- what must hold while a node of the kind is dead (after the checks every kind gets) ------------


def survivors_serve_every_page(case: Case) -> None:
    served = case.served_during_failure()
    survivors = set(served) - {case.host}
    case.expect(
        len(survivors) >= 1 and all(r.served_by in survivors for r in case.sent_after_injected((PAGE,))),
        f"pages after the failure not all served by the survivor(s): {dict(served)}",
    )


def photos_requested_while_down(case: Case) -> None:
    # A broken image is already an unacceptable answer; this counts them and proves photos were asked.
    broken = [r for r in case.failure if r.kind == PHOTO and not loadgen.photo_ok(r)]
    case.note(f"broken images while {case.node.name} was down: {len(broken)}")
    case.expect(sum(1 for r in case.fresh if r.kind == PHOTO) > 0, "no photo requested while down")


def uploads_still_fast(case: Case) -> None:
    expect_p99_near_baseline(case, (POST,))
    slowest = max(latencies(case.failure, (POST,)) or [0])
    case.expect(slowest <= UPLOAD_MAX_S, f"an upload took {slowest:.1f}s while {case.node.name} was down")


def uploads_unavailable_page_quickly(case: Case) -> None:
    after = case.sent_after_injected((POST,))
    friendly = [r for r in after if upload_unavailable_page(r)]
    case.expect(
        friendly,
        f"no 'uploads temporarily unavailable' page while {case.node.name} was down: "
        + "; ".join(describe(r) for r in after[:2]),
    )
    slowest = max((r.latency for r in friendly), default=0)
    case.expect(
        slowest <= REFUSAL_PAGE_MAX_S,
        f"the unavailable page took up to {slowest:.1f}s (limit {REFUSAL_PAGE_MAX_S}s)",
    )


def pages_as_fast_as_baseline(case: Case) -> None:
    expect_p99_near_baseline(case, (PAGE,))


def shared_pages_never_stall(case: Case) -> None:
    """The page loads every visitor shares come at once (S1's copy) once the failure is a second
    old; the first second is S1 finding out. The one request that refreshes an expired copy waits
    for a feed node (S1 refreshes in the foreground, so a copy is never older than about 2 s): it
    has the bound of any request to a halted node, HALT_WAIT_MAX_S."""
    shared = [
        r
        for r in case.sent_after_injected((PAGE,))
        if r.path in loadgen.SHARED_PAGES and r.start >= case.t_injected + STALL_GRACE_S
    ]
    failed = [r for r in shared if not loadgen.page_ok(r)]
    copies = [r for r in shared if r.served_by == loadgen.S1_CACHE]
    refreshes = [r for r in shared if r.served_by != loadgen.S1_CACHE]
    slow = [r for r in copies if r.latency > PAGE_STALL_MAX_S]
    slow += [r for r in refreshes if r.latency > HALT_WAIT_MAX_S]
    worst_copy = max((r.latency for r in copies), default=0.0)
    worst_refresh = max((r.latency for r in refreshes), default=0.0)
    case.note(
        f"shared pages while {case.node.name} was down: {len(shared)}, {len(copies)} from S1's cache "
        f"(slowest {worst_copy:.2f}s, limit {PAGE_STALL_MAX_S:.0f}s), {len(refreshes)} refreshing it "
        f"(slowest {worst_refresh:.2f}s, limit {HALT_WAIT_MAX_S:.0f}s), {len(failed)} failed"
    )
    case.expect(shared, f"no shared page asked while {case.node.name} was down")
    case.expect(not failed, "shared pages failed: " + "; ".join(describe(r) for r in failed[:3]))
    case.expect(not slow, "shared pages stalled: " + "; ".join(describe(r) for r in slow[:3]))


def fresh_pages_from_replicas(case: Case) -> None:
    """Pages S1 never caches are rendered while the primary is dead, from the feed nodes' own
    replicas, and show the newest post acknowledged before the failure (fresh, not a copy)."""
    acked = [r for r in case.base if r.kind == POST and r.status == 303 and r.end < case.t_inject]
    newest = max(acked, key=lambda r: r.end).marker if acked else None
    uncached = [r for r in case.sent_after_injected((PAGE,)) if loadgen.is_uncached_page(r.path)]
    replica = [r for r in uncached if loadgen.page_ok(r) and r.read_from == "replica"]
    stale = [r for r in replica if newest is None or newest.encode() not in r.body]
    case.note(
        f"uncached pages while {case.node.name} was down: {len(uncached)}, "
        f"{len(replica)} read from a replica, {len(stale)} without the newest acknowledged post"
    )
    case.expect(uncached and newest, "no uncached page asked, or no post acknowledged before the failure")
    others = [r for r in uncached if r not in replica]
    case.expect(
        not others, "uncached pages not read from a replica: " + "; ".join(describe(r) for r in others[:3])
    )
    case.expect(not stale, f"pages without {newest}: " + "; ".join(describe(r) for r in stale[:2]))


def replicas_caught_up(case: Case) -> None:
    """After the primary returns, every feed node's replica reconnects and catches up by itself."""
    began = time.monotonic()
    for feed in of_kind("feed"):
        lag, state = _wait_for_replica(feed)
        case.note(f"{feed.name}: replica {state} {time.monotonic() - began:.0f}s after the site was healthy")
        case.expect(lag == "0", f"{feed.name}'s replica did not catch up: {state}")


def _wait_for_replica(feed: Node) -> tuple[str, str]:
    """(Seconds_Behind_Master, a summary) once both threads run and the lag is 0, or at the bound."""
    began, lag, state = time.monotonic(), "", ""
    while time.monotonic() - began < REPLICA_CATCH_UP_S:
        _code, out = labctl.ssh(feed.name, "sudo mysql -e 'SHOW SLAVE STATUS\\G'", timeout=30)
        status = dict(line.strip().partition(": ")[::2] for line in out.splitlines() if ": " in line)
        lag = status.get("Seconds_Behind_Master", "")
        running = status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"
        state = f"IO {status.get('Slave_IO_Running')}, SQL {status.get('Slave_SQL_Running')}, lag {lag}"
        if running and lag == "0":
            break
        time.sleep(2)
    return lag, state


def answers_without_pile_up(case: Case) -> None:
    worst = percentile([r.latency for r in case.fresh if r.kind in (PAGE, POST)], 0.99)
    case.note(f"p99 of page/post answers while the database was down: {fmt_s(worst)}")
    case.expect(
        worst is not None and worst <= DB_DOWN_P99_MAX_S,
        f"answers while the database was down took p99 {fmt_s(worst)} "
        f"(limit {DB_DOWN_P99_MAX_S}s): workers pile up",
    )


def pages_settled_after_return(case: Case) -> None:
    """After the database returns, pages are as fast as before (no backlog of stuck workers)."""
    samples = [case.site.get("/") for _ in range(10)]
    bad = [r for r in samples if not loadgen.page_ok(r)]
    after_p50 = percentile([r.latency for r in samples], 0.5)
    base_p50 = p(case.base, 0.5, (PAGE,)) or 0.1
    case.note(f"page p50 after recovery {fmt_s(after_p50)} (baseline {fmt_s(base_p50)})")
    case.expect(
        not bad, "pages failing after the database came back: " + "; ".join(describe(r) for r in bad[:2])
    )
    case.expect(
        after_p50 is not None and after_p50 <= 3 * base_p50 + 0.5,
        f"pages still slow after the database came back: p50 {fmt_s(after_p50)}",
    )


def nfs_clients_serve_new_photo(case: Case) -> None:
    """After the NFS server rebooted, every client mount serves a photo written after it."""
    photo = next((path for path in loadgen.photo_paths(case.site.get("/api/posts"))), None)
    for client in export_readers():
        began = time.monotonic()
        status, mounted = _wait_for_photo_on_mount(client, photo)
        waited = time.monotonic() - began
        case.note(
            f"{client.name}: NFS mount serving a new photo {waited:.0f}s after the site "
            f"was healthy (status {status}; {mounted[1]})"
        )
        case.expect(
            mounted[0] and status == "200",
            f"{client.name} does not serve {photo} from its NFS mount {NFS_BACK_TIMEOUT_S:.0f}s "
            f"after the upload node returned: {status}, {mounted[1]}",
        )


def _wait_for_photo_on_mount(client: Node, photo: str | None) -> tuple[str, tuple[bool, str]]:
    """(HTTP status of the photo asked from the client itself, mount_health) once both are fine."""
    began = time.monotonic()
    status, mounted = "", (False, "")
    while time.monotonic() - began < NFS_BACK_TIMEOUT_S:
        mounted = mount_health(client)
        status = (
            labctl.local_http_status(client.name, f"http://{client.address}{photo}") if photo else "no photo"
        )
        if mounted[0] and status == "200":
            break
        time.sleep(3)
    return status, mounted


# -- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeKind:
    group: str  # the inventory group whose hosts are of this kind
    unit: str  # its service: the stop case stops it
    local_checks: tuple[LocalCheck, ...]  # on the node, once its units are active and enabled
    extra_units: tuple[tuple[str, str], ...] = ()  # (group, unit): also runs `unit` when in `group`
    in_matrix: bool = True  # stopped and halted by test_failure
    affected: tuple[str, ...] = ()  # the request kinds a dead node of this kind affects
    redundant: bool = False  # S1 has another node for the affected requests
    carries: str | None = None  # the request kind it answers under its own X-Served-By
    recovery_probe: RecoveryCheck | None = None
    probe_interval_s: float = 0.5
    also_acceptable_while_down: Callable[[Result], bool] = no_failure_answer
    failure_checks: tuple[CaseCheck, ...] = ()
    after_halt_checks: tuple[CaseCheck, ...] = ()


# The first row whose group lists a host decides its kind; matrix cases follow the row order.
KINDS = (
    NodeKind("balancer", unit="nginx", local_checks=(feed_page_through_it,), in_matrix=False),
    NodeKind(
        "feed",
        unit="extagram",
        local_checks=(app_answers_healthz,),
        affected=(PAGE,),
        redundant=True,
        carries=PAGE,
        recovery_probe=feed_answered_by_node,
        failure_checks=(survivors_serve_every_page, shared_pages_never_stall),
    ),
    NodeKind(
        "upload",
        unit="extagram",
        extra_units=(("nfs_server", "nfs-server"),),
        local_checks=(app_answers_healthz,),
        affected=(POST,),
        recovery_probe=post_accepted,
        probe_interval_s=1.0,  # each probe is a real post
        also_acceptable_while_down=upload_refused_politely,
        failure_checks=(uploads_unavailable_page_quickly, pages_as_fast_as_baseline),
        after_halt_checks=(nfs_clients_serve_new_photo,),
    ),
    NodeKind(
        "media",
        unit="nginx",
        local_checks=(export_mounted, serves_css_locally),
        affected=(PHOTO,),
        redundant=True,
        carries=PHOTO,
        recovery_probe=photo_answered_by_node,
        failure_checks=(photos_requested_while_down, uploads_still_fast),
    ),
    NodeKind(
        "assets",
        unit="nginx",
        local_checks=(export_mounted, serves_css_locally),
        affected=(STATIC,),
        redundant=True,
        carries=STATIC,
        recovery_probe=css_answered_by_node,
    ),
    NodeKind(
        "database",
        unit="mariadb",
        local_checks=(mysql_answers,),
        affected=(PAGE, POST),
        # Pages are answered from S1's cache while it is down: a post accepted proves it is back.
        recovery_probe=post_accepted,
        probe_interval_s=1.0,
        also_acceptable_while_down=database_down_answer,
        failure_checks=(
            shared_pages_never_stall,
            fresh_pages_from_replicas,
            answers_without_pile_up,
            pages_settled_after_return,
            replicas_caught_up,
        ),
    ),
)


# -- the nodes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    kind: NodeKind
    units: tuple[str, ...]  # every unit that must be active and enabled after a boot


@functools.cache
def nodes() -> dict[str, Node]:
    """Every inventory host that has a kind, by name."""
    found = {}
    for host in inventory.hosts().values():
        kind = next((kind for kind in KINDS if host.in_group(kind.group)), None)
        if kind is not None:
            extra = tuple(unit for group, unit in kind.extra_units if host.in_group(group))
            found[host.name] = Node(host.name, host.address, kind, (kind.unit, *extra))
    return found


def of_kind(group: str) -> list[Node]:
    return [node for node in nodes().values() if node.kind.group == group]


def matrix_nodes() -> list[Node]:
    """The nodes test_failure stops and halts, in the order of KINDS, then by name."""
    chosen = [node for node in nodes().values() if node.kind.in_matrix]
    return sorted(chosen, key=lambda node: (KINDS.index(node.kind), node.name))


def export_readers() -> list[Node]:
    """The nodes that serve files from the upload node's NFS export."""
    return [node for node in nodes().values() if export_mounted in node.kind.local_checks]


_served_by_names: dict[str, str] = {}


def served_by_name(node: Node) -> str:
    """What the node puts in X-Served-By (its hostname); asked once, by SSH."""
    if node.name not in _served_by_names:
        code, out = labctl.ssh(node.name, "hostname", timeout=20)
        if code != 0 or not out.strip():
            return node.name
        _served_by_names[node.name] = out.strip().splitlines()[-1]
    return _served_by_names[node.name]


# -- a node by itself, over SSH --------------------------------------------------------------------


def units_problem(node: Node, _site: SiteClient) -> str | None:
    states = labctl.units_state(node.name, list(node.units))
    for unit in node.units:
        active, enabled = states.get(unit, ("unknown", "unknown"))
        if active != "active":
            return f"{unit} is {active}"
        if enabled != "enabled":
            return f"{unit} is {enabled} (must be enabled to survive a reboot)"
    return None


def node_problem(node: Node, site: SiteClient) -> str | None:
    """What is wrong with the node by itself: its units first, then its kind's local checks."""
    for check in (units_problem, *node.kind.local_checks):
        problem = check(node, site)
        if problem:
            return problem
    return None


def wait_node_healthy(node: Node, site: SiteClient, timeout: float) -> float:
    began = time.monotonic()
    reason = "never checked"
    while time.monotonic() - began < timeout:
        reason = node_problem(node, site)
        if reason is None:
            return time.monotonic() - began
        time.sleep(2)
    raise labctl.LabError(f"{node.name} not healthy after {timeout:.0f}s: {reason}")


def orphans() -> tuple[set[str], int]:
    """(photo files on the upload node with no DB row, DB photo rows with no post)."""
    upload = of_kind("upload")[0]
    code, out = labctl.ssh(upload.name, f"sudo ls -1 {labctl.PHOTOS_DIR}", timeout=30)
    if code != 0:
        raise labctl.LabError(f"cannot list {labctl.PHOTOS_DIR} on {upload.name}: {out}")
    files = {line.strip() for line in out.splitlines() if PHOTO_FILE.fullmatch(line.strip())}
    rows = labctl.mysql(
        "SELECT name FROM photos; SELECT COUNT(*) FROM photos LEFT JOIN "
        "posts ON posts.photourl = photos.name WHERE posts.id IS NULL"
    )
    names = {row[0] for row in rows[:-1]}
    return files - names, int(rows[-1][0])
