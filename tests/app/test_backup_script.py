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
from prometheus_client.parser import text_string_to_metric_families
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

    def __init__(self, pair: Replication, root: Path, offsite: str = "", node_exporter: bool = True):
        root.mkdir(exist_ok=True)
        self.store, self.photos = root / "store", root / "photos"
        self.photos.mkdir()
        # The node exporter's textfile directory, which role node_exporter makes.
        self.textfile_dir = root / "textfile"
        if node_exporter:
            self.textfile_dir.mkdir()
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
            "backup_binlog_dir": self.store / "binlog",
            "backup_textfile_dir": self.textfile_dir,
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


def published(node: BackupNode) -> dict[str, float]:
    """The node exporter's view of extagram_backup.prom: {metric: value}, after promtool found the
    file valid Prometheus text (gauges with HELP and TYPE)."""
    fact = node.textfile_dir / "extagram_backup.prom"
    text = fact.read_text()
    linted = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    return {
        family.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "gauge"
    }


def test_a_checked_backup_publishes_its_time_and_size_for_the_node_exporter(pair, node):
    (node.photos / "a.jpg").write_bytes(b"\xff\xd8 photo a")
    before = time.time()
    assert node.run(node.backup).returncode == 0
    [backup] = node.backups()
    facts = published(node)
    assert set(facts) == {
        "extagram_backup_last_success_timestamp_seconds",
        "extagram_backup_last_success_size_bytes",
    }
    stamp = datetime.datetime.strptime(backup.name, "%Y%m%dT%H%M%S%z").timestamp()
    assert facts["extagram_backup_last_success_timestamp_seconds"] == stamp
    assert int(before) <= stamp <= time.time()
    size = int(subprocess.check_output(["du", "-sb", backup], text=True).split()[0])
    assert facts["extagram_backup_last_success_size_bytes"] == size
    fact = node.textfile_dir / "extagram_backup.prom"
    assert fact.stat().st_mode & 0o777 == 0o644  # the exporter's own user reads it
    assert [path.name for path in node.textfile_dir.iterdir()] == [fact.name]  # no temporary left


def test_a_failed_backup_leaves_the_published_fact_as_it_was(pair, node):
    assert node.run(node.backup).returncode == 0
    fact = node.textfile_dir / "extagram_backup.prom"
    kept = fact.read_bytes(), fact.stat().st_mtime_ns
    time.sleep(1.1)  # a new backup would have another time
    pair.replica.halt()
    pair.primary.halt()
    assert node.run(node.backup).returncode != 0
    assert (fact.read_bytes(), fact.stat().st_mtime_ns) == kept
    assert [path.name for path in node.textfile_dir.iterdir()] == [fact.name]


def test_a_node_without_the_node_exporter_still_backs_up(pair, tmp_path):
    node = BackupNode(pair, tmp_path / "node", node_exporter=False)
    done = node.run(node.backup)
    assert done.returncode == 0, done.stderr
    assert len(node.backups()) == 1
    assert "the backup's time is not published" in done.stderr
    assert not node.textfile_dir.exists()


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


def restore_on_primary(root: Path, backup: Path, until: datetime.datetime, *copies: Path):
    """extagram-db-restore of `backup` up to `until`, as root on the primary (BackupNode's settings)."""
    restore = render("extagram-db-restore", root / "extagram-db-restore", backup_database="extagram")
    done = subprocess.run(
        [restore, backup / "db.sql.gz", until.strftime("%Y-%m-%d %H:%M:%S"), *copies],
        env={**os.environ, "HOME": str(root / "home-primary")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def gtid_seq_no(position: str) -> int:
    """The sequence number of a one-domain GTID position (domain-server-number)."""
    return int(position.rsplit("-", 1)[1])


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
    [(position_before,)] = pair.on_primary("SELECT @@gtid_binlog_pos")
    # As an admin would type it: in the database (the replay keeps only that database's statements).
    with pair.primary.root_connection("extagram") as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE posts")
    done = restore_on_primary(tmp_path, backup, mistake - datetime.timedelta(seconds=1))
    assert "posts: no table before, 2 after the restore up to" in done.stdout, done.stdout
    texts = [text for (text,) in pair.on_primary("SELECT post FROM extagram.posts ORDER BY id")]
    assert texts == ["in the backup", "after the backup"]
    # The restore's writes are new ones in the binary log: its position moves on (a replay that
    # kept its old GTID numbers sent it back to before the mistake, and the wait below returned at
    # once, before the replica had applied the restore).
    [(position_after,)] = pair.on_primary("SELECT @@gtid_binlog_pos")
    assert gtid_seq_no(position_after) > gtid_seq_no(position_before) + 1, (position_before, position_after)
    pair.wait_until_caught_up()
    assert pair.on_replica("SELECT post FROM extagram.posts ORDER BY id") == [(t,) for t in texts]


def binlog_copy(pair: Replication, node: BackupNode, root: Path) -> subprocess.Popen:
    """extagram-binlog-copy on the primary (its unix socket stands for the TLS link), started."""
    client = root / "binlog-copy.cnf"
    client.write_text(
        f"[client]\nuser=root\nsocket={pair.primary.socket_path}\n[mysql]\nconnect-timeout=10\n"
    )
    command = render(
        "extagram-binlog-copy",
        root / "extagram-binlog-copy",
        backup_binlog_dir=node.store / "binlog",
        backup_binlog_client_file=client,
        backup_binlog_check_seconds=1,
        backup_binlog_server_id=1015,
    )
    return subprocess.Popen([command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_copy(pair: Replication, copies: Path) -> None:
    """Until the copy holds everything the primary has written."""
    for _ in range(100):
        [(file, position, *_rest)] = pair.on_primary("SHOW MASTER STATUS")
        if (copies / file).exists() and (copies / file).stat().st_size >= position:
            return
        time.sleep(0.1)
    raise AssertionError(f"the copy never caught up with {file}:{position}")


def test_the_binary_log_copy_replays_what_the_primary_no_longer_holds(pair, node, tmp_path):
    """The copy follows the primary as it writes; a point-in-time restore replays it even when the
    primary's own files are gone (purged here, as a lost primary's would be)."""
    copy = binlog_copy(pair, node, tmp_path)
    try:
        pair.add_post("in the backup")
        pair.wait_until_caught_up()
        for _ in range(100):  # the copy names its directory once it has asked the primary
            if (node.store / "binlog/current").exists():
                break
            time.sleep(0.1)
        assert node.run(node.backup).returncode == 0
        [backup] = node.backups()
        copies = (node.store / "binlog/current").resolve()
        assert node.checked(backup)["binlog"] == copies.name
        pair.add_post("after the backup")
        wait_for_copy(pair, copies)
        pair.wait_until_caught_up()
        [(mistake,)] = pair.on_primary("SELECT UTC_TIMESTAMP()")
        time.sleep(1.1)
        pair.on_primary("FLUSH BINARY LOGS")
        [(newest, *_rest)] = pair.on_primary("SHOW MASTER STATUS")
        pair.on_primary(f"PURGE BINARY LOGS TO '{newest}'")
        pair.add_post("at the moment asked: not replayed")
    finally:
        copy.terminate()
        output, _ = copy.communicate(timeout=30)
    assert "copying the primary's binary log into" in output, output
    done = restore_on_primary(tmp_path, backup, mistake + datetime.timedelta(seconds=1), copies)
    assert "replaying the backup nodes' copy of the binary log" in done.stdout, done.stdout
    texts = [text for (text,) in pair.on_primary("SELECT post FROM extagram.posts ORDER BY id")]
    assert texts == ["in the backup", "after the backup"]
