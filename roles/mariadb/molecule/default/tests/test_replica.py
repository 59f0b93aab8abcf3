"""Role mariadb on the feed nodes: a read-only replica of the primary on the unix socket only.

Runs in roles/mariadb's scenario (s7 and s2) and in tests/topology (s7, s2 and s3).
"""

import time
import uuid

import pytest

from extagram_lab.inventory import shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("feed")
# Writes on the primary and breaks a replica on purpose: alone, after the parallel tests.
pytestmark = pytest.mark.serial
PORT = shared_setting("extagram_shared_db_port")
CATCH_UP_S = 30
PROBE_TABLE = "extagram.replication_check"


def sql(host, query):
    return host.check_output(f'mysql --batch --skip-column-names -e "{query}"')


def primary_name():
    return helpers.running("database")[0]


def primary():
    return helpers.node(primary_name())


def wait_for(host, query, expected):
    deadline = time.monotonic() + CATCH_UP_S
    while (answer := sql(host, query)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return answer


@pytest.fixture
def probe_table():
    """A scratch table made on the primary (so on every replica), dropped afterwards."""
    sql(primary(), f"CREATE TABLE {PROBE_TABLE} (token VARCHAR(64) PRIMARY KEY)")
    yield PROBE_TABLE
    sql(primary(), f"DROP TABLE IF EXISTS {PROBE_TABLE}")


def test_replica_listens_on_no_port(host):
    assert host.service("mariadb").is_running
    assert host.service("mariadb").is_enabled
    assert sql(host, "SELECT @@skip_networking") == "1"
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket(f"tcp://{helpers.address(host)}:{PORT}").is_listening
    assert "mariadbd" not in host.check_output("ss -ltnpH")


def test_replica_is_read_only_and_refuses_writes(host):
    assert sql(host, "SELECT @@read_only") == "1"
    # A local account that may insert but has no READ_ONLY ADMIN: the server itself says no.
    user = f"probe_{uuid.uuid4().hex[:8]}"
    sql(host, f"CREATE USER '{user}'@'localhost'; GRANT INSERT ON extagram.* TO '{user}'@'localhost'")
    try:
        refused = host.run(f"mysql -u {user} -e 'CREATE TABLE extagram.{user} (id INT)'")
    finally:
        sql(host, f"DROP USER '{user}'@'localhost'")
    assert refused.rc != 0 and "read-only" in refused.stderr, refused.stderr


def test_replica_leaves_the_memory_to_the_app(host):
    memory_kib = int(host.check_output("awk '/^MemTotal/ {print $2}' /proc/meminfo"))
    pool = int(sql(host, "SELECT @@innodb_buffer_pool_size"))
    assert pool <= 0.15 * memory_kib * 1024, (pool, memory_kib)


def test_replica_follows_the_primary_by_gtid(host):
    status = helpers.replica_status(host)
    assert status["Slave_IO_Running"] == "Yes", status.get("Last_IO_Error")
    assert status["Slave_SQL_Running"] == "Yes", status.get("Last_SQL_Error")
    assert status["Master_Host"] == helpers.address(primary_name())
    assert status["Using_Gtid"] == "Slave_Pos"


def test_the_feed_app_reads_its_replica_with_least_privilege(host):
    grants = sql(host, "SHOW GRANTS FOR 'extagram_feed'@'localhost'")
    assert "GRANT SLAVE MONITOR ON *.*" in grants
    assert "GRANT SELECT ON `extagram`.*" in grants
    assert sql(host, "SELECT COUNT(*) FROM mysql.user WHERE user='extagram_replica'") == "0"


def test_a_write_on_the_primary_reaches_the_replica_and_lag_returns_to_zero(host, probe_table):
    token = uuid.uuid4().hex
    sql(primary(), f"INSERT INTO {probe_table} VALUES ('{token}')")
    assert wait_for(host, f"SELECT COUNT(*) FROM {probe_table} WHERE token='{token}'", "1") == "1"
    assert helpers.replica_status(host)["Seconds_Behind_Master"] == "0"


def test_status_command_shows_role_and_lag(host):
    out = host.check_output("extagram-db-status")
    assert "replica" in out and "Slave_SQL_Running: Yes" in out and "Seconds_Behind_Master: 0" in out
    assert "Verdict: fresh" in out
    assert "primary" in primary().check_output("extagram-db-status")


def test_a_broken_replica_is_reseeded_by_one_command(host, probe_table):
    """Break the last feed node's replica on purpose, then run playbooks/replica_reseed.yml on it."""
    if host.backend.host != testinfra_hosts[-1]:
        pytest.skip("one replica is broken and re-seeded: the last feed node")
    sql(host, f"DROP TABLE {probe_table}")  # local only: the replica writes no binary log
    sql(primary(), f"INSERT INTO {probe_table} VALUES ('{uuid.uuid4().hex}')")
    deadline = time.monotonic() + CATCH_UP_S
    while helpers.replica_status(host)["Slave_SQL_Running"] == "Yes" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert helpers.replica_status(host)["Last_SQL_Errno"] == "1146"  # the table it must write to is gone

    helpers.run_playbook("playbooks/replica_reseed.yml", limit=host.backend.host)

    status = helpers.replica_status(host)
    assert status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes", status
    assert sql(host, f"SELECT COUNT(*) FROM {probe_table}") == "1"
    assert sql(host, "SHOW DATABASES LIKE 'extagram\\_%'") == ""  # no scratch copy left behind


def test_a_failed_seed_leaves_the_old_copy(host):
    """The copy fails (here: the primary's client file is gone, so mariadb-dump cannot log in);
    the replica keeps every row it had, and says it is not fresh."""
    client_file = "/etc/mysql/extagram-primary.cnf"
    posts = sql(host, "SELECT COUNT(*) FROM extagram.posts")
    sql(host, "STOP SLAVE")
    host.check_output(f"mv {client_file} {client_file}.away")
    try:
        failed = host.run("extagram-replica-seed")
        verdict = host.check_output("extagram-db-status")
    finally:
        host.check_output(f"mv {client_file}.away {client_file}")
        sql(host, "START SLAVE")
    assert failed.rc != 0, failed.stdout
    assert sql(host, "SELECT COUNT(*) FROM extagram.posts") == posts
    assert sql(host, "SHOW DATABASES LIKE 'extagram\\_%'") == ""
    assert "Verdict: NOT FRESH" in verdict, verdict
