"""Role backup on the lab: each backup node takes a backup from a fresh replica, restores it into
a scratch server to check it, and the account it uses on the database nodes can do nothing else.
"""

import concurrent.futures
import datetime

import pytest

from extagram_lab.inventory import role_default, shared_setting
from extagram_testing import testinfra_helpers as helpers

testinfra_hosts = helpers.running("backup")
# Runs a backup on every backup node and compares its counts with the primary's: alone.
pytestmark = pytest.mark.serial
PHOTOS_DIR = f"{shared_setting('extagram_shared_export_dir')}/photos"
FACT = f"{shared_setting('extagram_shared_textfile_dir')}/extagram_backup.prom"
NODE_EXPORTER_PORT = shared_setting("extagram_shared_node_exporter_port")
BACKUP_DIR = role_default("backup", "backup_dir")
KEEP_DAYS = role_default("backup", "backup_keep_days")
# Planted before the backup, aged in days: a backup keeps KEEP_DAYS, a binary log one more.
PLANTED_AGES = {
    "20000101T000000Z": KEEP_DAYS + 2,
    "20000102T000000Z": KEEP_DAYS - 1,
    "binlog/20000101T000000Z/mariadb-bin.000001": KEEP_DAYS + 3,
    "binlog/20000101T000000Z/mariadb-bin.000002": KEEP_DAYS,
    "binlog/20000101T000000Z/mariadb-bin.000003": KEEP_DAYS + 3,  # the history's newest: stays
}


def newest_check(host):
    """The CHECKED fields of the node's newest backup."""
    fields = host.check_output(f"cat {BACKUP_DIR}/latest/CHECKED").split()
    return dict(field.split("=", 1) for field in fields)


def plant_old_copies(name):
    """PLANTED_AGES on the node, each file or directory dated that many days ago."""
    for path, days in PLANTED_AGES.items():
        target = f"{BACKUP_DIR}/{path}"
        create = f"install -D -m 0644 /dev/null {target}" if "/" in path else f"mkdir -p {target}"
        helpers.node(name).check_output(f"{create} && touch -d '{days} days ago' {target}")


@pytest.fixture(scope="module")
def backed_up():
    """Old copies planted, then one backup on every backup node, run together; {node: the unit's exit
    code}. The planted copies are removed afterwards."""

    def backup(name):
        plant_old_copies(name)
        return helpers.node(name).run("systemctl start extagram-backup.service").rc

    with concurrent.futures.ThreadPoolExecutor(len(testinfra_hosts)) as pool:
        exit_codes = dict(zip(testinfra_hosts, pool.map(backup, testinfra_hosts), strict=True))
    yield exit_codes
    planted = " ".join(f"{BACKUP_DIR}/{path}" for path in ("20000102T000000Z", "binlog/20000101T000000Z"))
    for name in testinfra_hosts:
        helpers.node(name).run(f"rm -rf {planted}")


def test_the_timer_is_set(host):
    assert host.service("extagram-backup.timer").is_enabled
    assert host.service("extagram-backup.timer").is_running


def test_a_backup_comes_from_a_fresh_replica_and_its_restore_holds_every_post(host, backed_up):
    assert backed_up.get(host.backend.host) == 0, backed_up
    checked = newest_check(host)
    assert checked["source"] in helpers.addresses("feed"), checked  # a replica, not the primary
    [primary] = helpers.hosts("database")
    posts = helpers.node(primary).check_output(
        "mysql --batch --skip-column-names -e 'SELECT COUNT(*) FROM extagram.posts'"
    )
    assert checked["posts"] == posts
    assert checked["photos"] == host.check_output(f"find {PHOTOS_DIR} -type f | wc -l")


def test_what_is_past_its_days_goes_and_each_newest_stays(host, backed_up):
    left = {path for path in PLANTED_AGES if host.file(f"{BACKUP_DIR}/{path}").exists}
    assert left == {
        "20000102T000000Z",
        "binlog/20000101T000000Z/mariadb-bin.000002",
        "binlog/20000101T000000Z/mariadb-bin.000003",
    }


def test_every_file_matches_its_checksum(host, backed_up):
    listing = host.check_output("extagram-backups --verify")
    newest = listing.splitlines()[1]
    assert " ok " in newest, listing


def test_the_newest_backup_is_published_for_the_node_exporter(host, backed_up):
    """Its time (alerts BackupTooOld, BackupNeverSucceeded) and size, as the backup wrote them and
    as the monitoring node reads them."""
    assert backed_up.get(host.backend.host) == 0, backed_up
    newest = host.check_output(f"readlink {BACKUP_DIR}/latest")
    when = datetime.datetime.strptime(newest, "%Y%m%dT%H%M%S%z").timestamp()
    size = int(host.check_output(f"du -sb {BACKUP_DIR}/{newest}").split()[0])
    fact = host.file(FACT)
    assert (fact.user, fact.group, fact.mode) == ("root", "root", 0o644)
    expected = {
        "extagram_backup_last_success_timestamp_seconds": {(): when},
        "extagram_backup_last_success_size_bytes": {(): size},
    }
    for name, value in expected.items():
        assert helpers.series(fact.content_string, name) == value, fact.content_string
    served = helpers.scrape(host, NODE_EXPORTER_PORT)
    for name, value in expected.items():
        assert helpers.series(served, name) == value, name


def test_the_dump_account_runs_the_dump_and_nothing_else(host, backed_up):
    [primary] = helpers.hosts("database")
    asked = host.run(
        "ssh -i /root/.ssh/extagram_backup -o BatchMode=yes "
        "-o UserKnownHostsFile=/root/.ssh/extagram_backup_known_hosts "
        f"-l extagram-dump {helpers.address(primary)} cat /etc/passwd | head -c 2 | od -An -tx1"
    )
    assert asked.stdout.split() == ["1f", "8b"], asked  # a gzip stream, whatever was asked
    wrote = helpers.node(primary).run("sudo -u extagram-dump mariadb -e 'DELETE FROM extagram.posts'")
    assert wrote.rc != 0 and "denied" in wrote.stderr, wrote


def test_the_binary_log_copy_holds_everything_the_primary_wrote(host, backed_up):
    assert host.service("extagram-binlog-copy.service").is_running
    [primary] = helpers.hosts("database")
    status = helpers.node(primary).check_output("mariadb --batch --skip-column-names -e 'SHOW MASTER STATUS'")
    file, position = status.split()[:2]
    copies = host.check_output(f"readlink -f {BACKUP_DIR}/binlog/current")
    # Written as the primary writes: a few seconds at most behind (the posts of other tests).
    copied = host.run(
        f"for i in $(seq 20); do s=$(stat -c %s {copies}/{file} 2>/dev/null || echo 0);"
        f" [ $s -ge {position} ] && break; sleep 0.5; done; echo $s"
    )
    assert int(copied.stdout) >= int(position), (file, position, copied.stdout)
    assert newest_check(host)["binlog"] == copies.rsplit("/", 1)[1]
