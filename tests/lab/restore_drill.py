#!/usr/bin/env python3
"""The restore drill: S7 and S4 lost for good, rebuilt by site.yml, the site back from a backup.

    make test-restore        (on a converged lab: `make up`; about 20 minutes)

1. 50 posts with photos through S1, a backup on every backup node, 10 more posts.
2. S7's and S4's VMs destroyed, created again and converged by site.yml.
3. restore.yml, the backup as it was: the 50 posts are back with their photos, served from the
   export, byte for byte; the 10 later ones are lost, as a backup alone must lose them.
4. restore.yml up to the second after the last post: the backup nodes' copy of the lost S7's
   binary log replays the 10 as well, and their photos are written back from the database.
5. Point in time: 3 more posts, the posts table dropped on S7 by mistake, restore.yml up to the
   second before: every post back, and the site takes a new one.
6. site.yml changes nothing afterwards.
Figures (times, posts lost) are printed; docs/backups.md keeps them, dated.
"""

from __future__ import annotations

import hashlib
import time

from extagram_failover import loadgen
from extagram_failover.labctl import LabError, lab, ssh
from extagram_failover.site_client import MARKER, SiteClient
from extagram_lab import inventory
from extagram_lab.drill_tools import LOG_DIR, Checks, caught_up, playbook, posts, run_drill, sql

IN_BACKUP, AFTER_BACKUP, BEFORE_MISTAKE = 50, 10, 3


class Drill(Checks):
    def __init__(self):
        super().__init__()
        self.site = SiteClient(f"https://{inventory.balancer().address}", f"restore{int(time.time())}")
        self.export_nodes = {host.name for host in inventory.group("media") + inventory.group("assets")}
        self.primary = inventory.group("database")[0].name
        self.replicas = [host.name for host in inventory.group("feed")]
        self.lost = (self.primary, inventory.group("nfs_server")[0].name)
        self.first_id = self.site.newest_post_id()

    def post(self, tag: str, count: int) -> list[str]:
        """Markers of `count` acknowledged posts with photos; any refusal stops the drill."""
        markers = []
        for number in range(count):
            answer = self.site.post(f"{tag}{number}")
            if answer.status != 303:
                raise LabError(f"post {tag}{number} refused: {answer.status} {answer.error}")
            markers.append(answer.marker)
        return markers

    def photos(self) -> dict[str, tuple[str, str]]:
        """marker -> (sha256 of its photo as S1 serves it, who served it) for every drill post."""
        found = {}
        for post in self.site.posts_since(self.first_id):
            match = MARKER.search(post["text"])
            if match and post.get("photo_url"):
                answer = self.site.get(post["photo_url"], kind=loadgen.PHOTO, timeout=20)
                digest = hashlib.sha256(answer.body).hexdigest() if loadgen.photo_ok(answer) else "broken"
                found[match.group(1)] = (digest, answer.served_by)
        return found

    def backup(self) -> None:
        for node in inventory.group("backup"):
            code, out = ssh(node.name, "sudo systemctl start extagram-backup.service", timeout=300)
            if code != 0:
                raise LabError(f"backup on {node.name} failed: {out}")

    def compare(self, label: str, expected: dict[str, tuple[str, str]], present: list[str]) -> None:
        now = self.photos()
        missing = [marker for marker in present if marker not in now]
        back = [marker for marker in present if marker in now]
        changed = [marker for marker in back if now[marker][0] != expected[marker][0]]
        elsewhere = [marker for marker in back if now[marker][1] not in self.export_nodes]
        extra = sorted(set(now) - set(present))
        print(f"  {label}: {len(back)} of {len(present)} posts back, {len(extra)} unexpected")
        self.check(not missing, f"{label}: every expected post is back {missing[:3]}")
        self.check(not changed, f"{label}: every photo is byte for byte the one posted {changed[:3]}")
        self.check(not elsewhere, f"{label}: every photo is served from the export {elsewhere[:3]}")
        self.check(not extra, f"{label}: no other post {extra[:3]}")

    def restore(self, name: str, *extra: str) -> float:
        run = playbook(name, "playbooks/restore.yml", *extra)
        said = [line.strip() for line in run.output.splitlines() if '"msg": "Restored' in line]
        print(f"  {said[-1] if said else 'no summary'}")
        if run.code != 0:
            raise LabError(f"restore.yml failed, see {LOG_DIR}/{name}.log")
        self.site.wait_healthy(300, with_post=False)
        return run.seconds

    def run(self) -> None:
        print("1. 50 posts, a backup, 10 more", flush=True)
        in_backup = self.post("kept", IN_BACKUP)
        self.backup()
        after_backup = self.post("later", AFTER_BACKUP)
        time.sleep(1.5)
        until_all = sql(self.primary, "SELECT UTC_TIMESTAMP()")  # S7's clock stamps its binary log
        expected = self.photos()
        made = IN_BACKUP + AFTER_BACKUP
        self.check(len(expected) == made, f"{len(expected)} of {made} posts with photos before the loss")

        print("2. S7 and S4 destroyed, rebuilt by site.yml", flush=True)
        began = time.monotonic()
        lab("destroy", *self.lost, timeout=300)
        lab("up", "--no-provision", *self.lost, timeout=1200)
        rebuilt = time.monotonic() - began
        converge = playbook("restore-site", "site.yml")
        if converge.code != 0:
            raise LabError(f"site.yml on the rebuilt nodes failed, see {LOG_DIR}/restore-site.log")
        print(f"  VMs back in {rebuilt:.0f} s, site.yml {converge.seconds:.0f} s")

        print("3. the backup as it was", flush=True)
        seconds = self.restore("restore-backup")
        print(f"  restore.yml took {seconds:.0f} s; lost: the {AFTER_BACKUP} posts made after the backup")
        self.compare("backup", expected, in_backup)

        print("4. up to the second after the last post, from the copy of the lost binary log", flush=True)
        seconds = self.restore("restore-until-loss", "-e", f"restore_until='{until_all}'")
        print(f"  restore.yml took {seconds:.0f} s")
        self.compare("point in time", expected, in_backup + after_backup)
        print(f"  from the loss to every post back: {time.monotonic() - began:.0f} s")

        print("5. the posts table dropped by mistake, restored to the second before", flush=True)
        before_mistake = self.post("before-mistake", BEFORE_MISTAKE)
        time.sleep(1.5)
        until = sql(self.primary, "SELECT UTC_TIMESTAMP()")
        time.sleep(1.5)
        expected = self.photos()
        sql(self.primary, "DROP TABLE extagram.posts")
        seconds = self.restore("restore-mistake", "-e", f"restore_until='{until}'")
        print(f"  restore.yml took {seconds:.0f} s")
        self.compare("mistake undone", expected, in_backup + after_backup + before_mistake)
        self.check(self.site.post("after-restore").status == 303, "the site takes a post afterwards")
        primary_posts = posts(self.primary)
        followed = [caught_up(name, self.primary) and posts(name) == primary_posts for name in self.replicas]
        self.check(all(followed), "the replicas hold what the primary holds")

        print("6. site.yml afterwards", flush=True)
        again = playbook("restore-site-again", "site.yml")
        self.check(again.code == 0 and not again.changed, f"site.yml changed nothing ({again.seconds:.0f} s)")


def main() -> None:
    drill = Drill()
    run_drill(drill, drill.run)


if __name__ == "__main__":
    main()
