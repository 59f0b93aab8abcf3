#!/usr/bin/env python3
"""The promotion drill: S7 lost for good, a replica promoted, S7 back as a replica, then primary again.

    .venv/bin/python tests/lab/lab.py run .venv/bin/python tests/lab/promote_drill.py [--replica s2]

On a converged lab (`make up`); it ends where it began (S7 the primary), so it can run again.
1. Refusals, nothing changed: the old primary still answering (the controller cannot reach it);
   a candidate behind the other replica.
2. The loss: writers post through S1, S7's VM is destroyed, the replica is promoted. Figures: the
   acknowledged posts lost, the time to the first accepted post.
3. The promoted node, which took writes, refused as a replica of the lost S7.
4. S7 rebuilt and made a replica by one command (db_rejoin.yml); site.yml then changes nothing.
5. S7 promoted back by the same playbook (the replica fenced, planned), the replica rejoined, and
   site.yml without the written primary changes nothing.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from extagram_failover.labctl import lab, ssh
from extagram_failover.site_client import SiteClient
from extagram_lab import inventory
from extagram_lab.drill_tools import (
    PRIMARY_FILE,
    Checks,
    caught_up,
    playbook,
    posts,
    replicates,
    run_drill,
    sql,
)

POST_INTERVAL_S = 0.5
FIRST_POST_TIMEOUT_S = 1800
GONE = ("--extra-vars", "db_promote_old_primary_gone=true")


class Writer(threading.Thread):
    """Posts through S1 every POST_INTERVAL_S until stopped; keeps every answer."""

    def __init__(self, site: SiteClient):
        super().__init__(daemon=True)
        # Not `_stop`: threading.Thread has a method of that name, which join() calls.
        self.site, self.results, self._stopping = site, [], threading.Event()

    def run(self):
        while not self._stopping.is_set():
            self.results.append(self.site.post("drill", timeout=20))
            self._stopping.wait(POST_INTERVAL_S)

    def stop(self):
        self._stopping.set()
        self.join(60)


class Drill(Checks):
    def __init__(self, replica: str, other: str, primary: str):
        super().__init__()
        self.replica, self.other, self.primary = replica, other, primary
        self.site = SiteClient(f"https://{inventory.balancer().address}", f"drill{int(time.time())}")

    def promote(self, name: str, candidate: str, *extra: str):
        return playbook(name, "playbooks/db_promote.yml", "-e", f"db_promote_candidate={candidate}", *extra)

    def refusals(self) -> None:
        print("1. refusals", flush=True)
        before = posts(self.primary)
        # The controller cannot reach S7 (left out of the run) while it answers the other nodes.
        run = self.promote("refuse-answering", self.other, "--limit", f"all:localhost:!{self.primary}")
        self.check(run.code != 0 and "still answers" in run.output, "an old primary that answers is refused")
        self.check(sql(self.primary, "SELECT @@read_only") == "0", f"{self.primary} is still the primary")
        # The other replica stops receiving; a post reaches the primary and the first replica only.
        sql(self.other, "STOP SLAVE IO_THREAD")
        post = self.site.post("drill-staler")
        run = self.promote("refuse-staler", self.other)
        refused = run.code != 0 and "lacks what another replica received" in run.output
        self.check(post.status == 303 and refused, f"{self.other}, behind {self.replica}, is refused")
        # The refused run fenced S7 before it compared: let it back, as an admin would.
        ssh(self.primary, "sudo systemctl unmask mariadb && sudo systemctl enable --now mariadb")
        sql(self.other, "START SLAVE IO_THREAD")
        self.site.wait_healthy(300, with_post=True, tag="drill-back")
        self.check(posts(self.primary) != before, "posting works again on the untouched primary")

    def loss(self) -> None:
        print("2. the loss of S7", flush=True)
        newest = json.loads(self.site.get("/api/posts").body)["posts"]
        first_id = newest[0]["id"] if newest else 0
        writer = Writer(self.site)
        writer.start()
        time.sleep(10)  # a steady stream of acknowledged posts before the loss
        lab("destroy", self.primary, timeout=300)
        # Posts accepted while `destroy` ran were S7's: they must survive; the wait starts here.
        t_loss = time.monotonic()
        run = self.promote("promote", self.replica, *GONE)
        accepted = []
        while run.code == 0 and not accepted and time.monotonic() - t_loss < FIRST_POST_TIMEOUT_S:
            accepted = [r for r in writer.results if r.status == 303 and r.start > t_loss]
            time.sleep(1)
        time.sleep(5)
        writer.stop()
        before = [r for r in writer.results if r.end <= t_loss and r.status == 303]
        report = self.site.verify_posts(first_id, writer.results, refused=set())
        lost = [r.marker for r in before if r.marker in report["lost"]]
        print(f"  db_promote.yml took {run.seconds:.0f} s; acknowledged before the loss {len(before)}")
        if accepted:
            print(f"  first post accepted {accepted[0].end - t_loss:.0f} s after S7 was destroyed")
        print(
            f"  acknowledged in all {report['acked']}, found {report['found']}, lost {len(report['lost'])},"
            f" duplicated {len(report['duplicated'])}, broken photos {len(report['broken_photos'])}"
        )
        self.check(run.code == 0 and bool(accepted), f"{self.replica} promoted and taking posts")
        self.check(not lost, f"no post acknowledged before the loss is lost {lost}")
        self.check(
            PRIMARY_FILE.exists() and self.replica in PRIMARY_FILE.read_text(),
            "the new primary is written into the inventory",
        )

    def trap(self) -> None:
        print("3. the promoted node refused as a replica of the lost primary", flush=True)
        before = posts(self.replica)
        run = playbook(
            "refuse-trap",
            "playbooks/feed.yml",
            "--limit",
            self.replica,
            "-e",
            f"extagram_shared_db_primary={self.primary}",
        )
        self.check(run.code != 0, "feed.yml with the old primary fails")
        self.check(
            sql(self.replica, "SELECT @@read_only") == "0" and posts(self.replica) == before,
            f"{self.replica} is still the primary with every post",
        )

    def rejoin(self, node: str, primary: str, name: str) -> None:
        run = playbook(name, "playbooks/db_rejoin.yml", "--limit", node)
        self.check(run.code == 0, f"db_rejoin.yml made {node} a replica ({run.seconds:.0f} s)")
        self.site.post(f"{name}-probe")
        self.check(
            replicates(node, inventory.address(primary))
            and caught_up(node, primary)
            and posts(node) == posts(primary),
            f"{node} replicates {primary} and has every post",
        )

    def unchanged(self, name: str) -> None:
        run = playbook(name, "site.yml")
        ok = run.code == 0 and not run.changed
        self.check(ok, f"site.yml changed nothing ({run.seconds:.0f} s) {run.changed}")

    def back(self) -> None:
        print("4. S7 rebuilt and back as a replica", flush=True)
        began = time.monotonic()
        lab("up", self.primary, "--no-provision", timeout=900)
        print(f"  {self.primary} rebuilt in {time.monotonic() - began:.0f} s")
        self.rejoin(self.primary, self.replica, "rejoin-s7")
        self.unchanged("site-after-rejoin")
        print("5. S7 the primary again, by the same promotion", flush=True)
        run = self.promote("promote-back", self.primary)
        self.check(run.code == 0, f"{self.primary} promoted back ({run.seconds:.0f} s)")
        self.site.wait_healthy(300, with_post=True, tag="drill-back-primary")
        self.rejoin(self.replica, self.primary, "rejoin-replica")
        PRIMARY_FILE.unlink(missing_ok=True)  # S7 again: the inventory's own default
        self.unchanged("site-after-back")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    feed = [host.name for host in inventory.group("feed")]
    parser.add_argument("--replica", default=feed[0], choices=feed)
    args = parser.parse_args()
    other = next(name for name in feed if name != args.replica)
    drill = Drill(args.replica, other, inventory.group("database")[0].name)
    run_drill(drill, drill.refusals, drill.loss, drill.trap, drill.back)


if __name__ == "__main__":
    main()
