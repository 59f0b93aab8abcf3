#!/usr/bin/env python3
"""The promotion drill: S7 lost for good, a feed node's replica promoted by one command.

    .venv/bin/python tests/lab/lab.py run .venv/bin/python tests/lab/promote_drill.py [--replica s2]

On a converged lab (`make up`). Destructive: S7's VM is destroyed and the lab's database moves to
the replica; afterwards rebuild the lab (`make down && make up`) rather than run site.yml, since
the inventory in git still names S7 (the drill prints the change an admin would commit).
Writers post through S1 the whole time; the drill prints how long the site could not take a
post, and which acknowledged posts the asynchronous replication lost.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "failover"))

# tests/failover is a directory of scripts, not a package.
from site_client import SiteClient

from extagram_lab import inventory
from extagram_lab.common import REPO

POST_INTERVAL_S = 0.5
PROMOTE_TIMEOUT_S = 1800


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


def lab(*args: str) -> None:
    subprocess.run([sys.executable, str(REPO / "tests/lab/lab.py"), *args], cwd=REPO, check=True)


def promote(replica: str) -> float:
    began = time.monotonic()
    subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            *("playbooks/db_promote.yml", "--extra-vars", f"extagram_shared_db_primary={replica}"),
            # The drill destroyed S7's VM itself: nothing can reach it to fence it, and it is gone.
            *("--extra-vars", "db_promote_old_primary_gone=true"),
        ],
        cwd=REPO,
        check=True,
        timeout=PROMOTE_TIMEOUT_S,
    )
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replica", default=inventory.group("feed")[0].name)
    args = parser.parse_args()
    site = SiteClient(f"https://{inventory.balancer().address}", f"drill{int(time.time())}")
    newest = json.loads(site.get("/api/posts").body)["posts"]
    first_id = newest[0]["id"] if newest else 0

    writer = Writer(site)
    writer.start()
    time.sleep(10)  # a steady stream of acknowledged posts before the loss
    lab("destroy", inventory.group("database")[0].name)
    # From here S7 is gone: what it acknowledged before must survive, and the wait for a post
    # accepted again starts (posts accepted while `destroy` ran were S7's).
    t_loss = time.monotonic()
    promote_s = promote(args.replica)
    while time.monotonic() - t_loss < PROMOTE_TIMEOUT_S:
        accepted = [r for r in writer.results if r.status == 303 and r.start > t_loss]
        if accepted:
            break
        time.sleep(1)
    time.sleep(5)
    writer.stop()

    before = [r for r in writer.results if r.end <= t_loss]
    report = site.verify_posts(first_id, writer.results, refused=set())
    lost_before = [r.marker for r in before if r.status == 303 and r.marker in report["lost"]]
    print(f"posts acknowledged before the loss: {sum(1 for r in before if r.status == 303)}")
    print(f"  of them missing after the promotion: {len(lost_before)} {lost_before}")
    print(f"db_promote.yml took {promote_s:.0f} s")
    if accepted:
        print(f"first post accepted {accepted[0].end - t_loss:.0f} s after S7 was destroyed")
    print(f"acknowledged in all: {report['acked']}, found {report['found']}, lost {len(report['lost'])}")
    print(f"duplicated {len(report['duplicated'])}, broken photos {len(report['broken_photos'])}")
    refused = sum(1 for r in writer.results if r.start > t_loss and r.status != 303)
    print(f"posts refused while there was no primary: {refused}")
    sys.exit(0 if accepted and not lost_before else 1)


if __name__ == "__main__":
    main()
