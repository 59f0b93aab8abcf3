"""Role mariadb's seed command, rendered as Ansible renders it, on a real primary and replica.

A complete copy is swapped in whole; a copy that fails leaves the old copy and its position
(issue 25: the seed used to drop the database before copying).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jinja2
from replica_helpers import Replication

from extagram_testing.mariadb_server import free_port

SEED_TEMPLATE = Path(__file__).parents[2] / "roles/mariadb/templates/usr/local/sbin/extagram-replica-seed.j2"


def run_seed(pair: Replication, home: Path, primary_port: int) -> subprocess.CompletedProcess:
    """The seed as on a feed node: root's `mariadb` reaches the local replica, and the client file
    names the primary and the replication account."""
    account = pair.replication_account
    client_file = home / "primary.cnf"
    client_file.write_text(
        f"[client]\nhost={pair.primary.host}\nport={primary_port}\n"
        f"user={account.user}\npassword={account.password}\n"
    )
    (home / ".my.cnf").write_text(f"[client]\nuser=root\npassword=\nsocket={pair.replica.socket_path}\n")
    script = home / "extagram-replica-seed"
    script.write_text(
        jinja2.Template(SEED_TEMPLATE.read_text()).render(
            ansible_managed="rendered by the test",
            mariadb_database="extagram",
            mariadb_database_encoding="utf8mb4",
            mariadb_database_collation="utf8mb4_unicode_ci",
            mariadb_replica_primary_client_file=client_file,
            mariadb_primary_address=pair.primary.host,
        )
    )
    script.chmod(0o755)
    # Replication stopped and forgotten first, as role mariadb does before seeding.
    pair.on_replica("STOP SLAVE")
    pair.on_replica("RESET SLAVE ALL")
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([script], env=env, capture_output=True, text=True, timeout=120, check=False)


def replica_posts(pair: Replication) -> list[str]:
    return [text for (text,) in pair.on_replica("SELECT post FROM extagram.posts ORDER BY id")]


def scratch_databases(pair: Replication) -> list[tuple]:
    names = ("extagram_seed", "extagram_previous")
    return pair.on_replica(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name IN %s", [names]
    )


def test_a_complete_copy_is_swapped_in_at_the_primary_s_position(pair, tmp_path):
    for text in ("one", "two", "three"):
        pair.add_post(text)
    pair.wait_until_caught_up()
    pair.on_replica("DELETE FROM extagram.posts WHERE post = 'two'")  # a damaged copy
    seeded = run_seed(pair, tmp_path, pair.primary.port)
    assert seeded.returncode == 0, seeded.stderr
    assert "3 posts" in seeded.stdout
    assert replica_posts(pair) == ["one", "two", "three"]
    assert pair.on_replica("SELECT @@gtid_slave_pos") == pair.on_primary("SELECT @@gtid_binlog_pos")
    assert scratch_databases(pair) == []


def test_a_failed_copy_leaves_the_old_copy_and_its_position(pair, tmp_path):
    pair.add_post("kept")
    pair.wait_until_caught_up()
    [(position,)] = pair.on_replica("SELECT @@gtid_slave_pos")
    failed = run_seed(pair, tmp_path, free_port())  # the primary out of reach
    assert failed.returncode != 0
    assert "Can't connect" in failed.stderr
    assert replica_posts(pair) == ["kept"]
    assert pair.on_replica("SELECT @@gtid_slave_pos") == [(position,)]
    assert scratch_databases(pair) == []
