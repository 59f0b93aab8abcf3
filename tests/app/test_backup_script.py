"""Role backup's commands, rendered as Ansible renders them, on a real primary and replica.

The backup node asks each source for its dump over SSH; here the same forced command runs
locally against each server (only the transport differs). The check restores every dump into a
scratch MariaDB of its own, as on the node.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from pathlib import Path

import jinja2
import pytest
from replica_helpers import Replication

TEMPLATES = Path(__file__).parents[2] / "roles/backup/templates/usr/local/sbin"


def render(name: str, target: Path, **settings) -> Path:
    text = jinja2.Template((TEMPLATES / f"{name}.j2").read_text()).render(
        ansible_managed="rendered by the test", **settings
    )
    target.write_text(text)
    target.chmod(0o755)
    return target


class BackupNode:
    """The backup node's commands in a directory, with the pair's servers as its two sources."""

    def __init__(self, pair: Replication, root: Path, offsite: str = ""):
        root.mkdir(exist_ok=True)
        self.store, self.photos = root / "store", root / "photos"
        self.photos.mkdir()
        dump = render(
            "extagram-db-dump", root / "extagram-db-dump", backup_database="extagram", backup_db_max_lag=60
        )
        for name, server in (("replica", pair.replica), ("primary", pair.primary)):
            home = root / f"home-{name}"
            home.mkdir()
            (home / ".my.cnf").write_text(f"[client]\nuser=root\npassword=\nsocket={server.socket_path}\n")
        # "ssh <source>": the source's own dump command, as its forced command would run it.
        ask = root / "ask"
        ask.write_text(f"#!/bin/sh\nHOME={root}/home-$1 exec {dump}\n")
        ask.chmod(0o755)
        settings = {
            "backup_dir": self.store,
            "backup_keep_days": 7,
            "backup_db_sources": ["replica", "primary"],
            "hostvars": {"replica": {"ansible_host": "replica"}, "primary": {"ansible_host": "primary"}},
            "backup_photos_dir": self.photos,
            "backup_dump_command": ask,
            "backup_offsite_target": offsite,
            "backup_ssh_key": root / "key",
            "backup_known_hosts": root / "known_hosts",
        }
        self.backup = render("extagram-backup", root / "extagram-backup", **settings)
        self.listing = render("extagram-backups", root / "extagram-backups", **settings)

    def run(self, command: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [command, *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "PATH": f"{os.environ['PATH']}:/usr/sbin:/sbin"},
        )

    def backups(self) -> list[Path]:
        return sorted(path for path in self.store.iterdir() if path.name.startswith("2"))

    def checked(self, backup: Path) -> dict[str, str]:
        return dict(field.split("=", 1) for field in (backup / "CHECKED").read_text().split())


@pytest.fixture
def node(pair: Replication, tmp_path: Path) -> BackupNode:
    return BackupNode(pair, tmp_path)


def test_a_backup_comes_from_the_fresh_replica_and_a_restore_checks_it(pair, node):
    for text in ("one", "two", "three"):
        pair.add_post(text)
    pair.wait_until_caught_up()
    (node.photos / "a.jpg").write_bytes(b"\xff\xd8 photo a")
    (node.photos / "b.jpg").write_bytes(b"\xff\xd8 photo b")
    done = node.run(node.backup)
    assert done.returncode == 0, done.stderr
    [backup] = node.backups()
    checked = node.checked(backup)
    assert (checked["source"], checked["posts"], checked["photos"]) == ("replica", "3", "2")
    # The position the copy is consistent with: where a point-in-time recovery would start.
    assert [(checked["position"],)] == pair.on_replica("SELECT @@gtid_slave_pos")
    assert (node.store / "latest").resolve() == backup
    assert (
        subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=backup, check=False).returncode
        == 0
    )
    listed = node.run(node.listing, "--verify")
    assert backup.name in listed.stdout and " ok " in listed.stdout, listed.stdout


def test_a_stale_replica_is_passed_over_for_the_primary(pair, node):
    pair.add_post("only on the primary while the replica stands still")
    pair.on_replica("STOP SLAVE SQL_THREAD")
    done = node.run(node.backup)
    assert done.returncode == 0, done.stderr
    assert "replica not fresh" in done.stderr
    [backup] = node.backups()
    checked = node.checked(backup)
    assert (checked["source"], checked["posts"]) == ("primary", "1")
    assert [(checked["position"],)] == pair.on_primary("SELECT @@gtid_binlog_pos")


def test_no_source_fails_the_run_and_leaves_nothing(pair, node):
    pair.replica.halt()
    pair.primary.halt()
    done = node.run(node.backup)
    assert done.returncode != 0
    assert "no database source answered" in done.stderr
    assert list(node.store.iterdir()) == []


def test_unchanged_photos_are_shared_old_backups_go_and_damage_is_found(pair, node):
    (node.photos / "kept.jpg").write_bytes(b"\xff\xd8 kept")
    assert node.run(node.backup).returncode == 0
    (node.photos / "new.jpg").write_bytes(b"\xff\xd8 new")
    assert node.run(node.backup).returncode == 0
    first, second = node.backups()
    assert (first / "photos/kept.jpg").stat().st_ino == (second / "photos/kept.jpg").stat().st_ino
    assert not (first / "photos/new.jpg").exists()
    os.utime(second, (0, 0))  # older than the retention: it goes, but the newest stays whatever its age
    os.utime(first, (0, 0))
    assert node.run(node.backup).returncode == 0
    [third] = node.backups()
    (third / "photos/new.jpg").write_bytes(b"\xff\xd8 damaged")
    listed = node.run(node.listing, "--verify")
    assert third.name in listed.stdout and "FAILED" in listed.stdout, listed.stdout


def test_every_backup_is_copied_off_the_site_when_a_target_is_set(pair, tmp_path):
    offsite = tmp_path / "offsite"  # a local path stands for user@host:/path (rsync either way)
    offsite.mkdir()
    node = BackupNode(pair, tmp_path / "node", offsite=str(offsite))
    (node.photos / "a.jpg").write_bytes(b"\xff\xd8 a")
    assert node.run(node.backup).returncode == 0
    [backup] = node.backups()
    [copy] = [path / backup.name for path in offsite.iterdir()]  # under the node's host name
    assert (copy / "db.sql.gz").read_bytes() == (backup / "db.sql.gz").read_bytes()
    assert (
        subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=copy, check=False).returncode
        == 0
    )


def test_a_dropped_table_is_recovered_to_the_second_before(pair, node, tmp_path):
    """Point in time: the backup, then the writes after it replayed from the primary's binary log,
    up to the second before the mistake."""
    pair.add_post("in the backup")
    pair.wait_until_caught_up()
    assert node.run(node.backup).returncode == 0
    [backup] = node.backups()
    pair.add_post("after the backup")
    time.sleep(2)
    [(mistake,)] = pair.on_primary("SELECT UTC_TIMESTAMP()")
    # As an admin would type it: in the database (the replay keeps only that database's statements).
    with pair.primary.root_connection("extagram") as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE posts")
    restore = render("extagram-db-restore", tmp_path / "extagram-db-restore", backup_database="extagram")
    home = tmp_path / "home-primary"  # root's client settings for the primary (BackupNode made it)
    until = (mistake - datetime.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    done = subprocess.run(
        [restore, backup / "db.sql.gz", until],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "posts: no table before, 2 after the restore up to" in done.stdout, done.stdout
    texts = [text for (text,) in pair.on_primary("SELECT post FROM extagram.posts ORDER BY id")]
    assert texts == ["in the backup", "after the backup"]
    pair.wait_until_caught_up()
    assert pair.on_replica("SELECT post FROM extagram.posts ORDER BY id") == [(t,) for t in texts]
