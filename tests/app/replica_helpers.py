"""A real primary and a real replica of it (GTID replication), as on S7 and a feed node.

The replica is seeded with mariadb-dump from the primary, replicates only `extagram.%`, is
read_only, and has the feed account (same name and password as on the primary) with the grants
of a feed node: SELECT on extagram.* and SLAVE MONITOR.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.cursors import DictCursor

from extagram import photos, store
from extagram.config import Config
from extagram_testing import mariadb_server
from extagram_testing.mariadb_server import Account, MariaDBServer

PRIMARY_OPTIONS = ("--log-bin=bin", "--server-id=17", "--binlog-format=ROW")
REPLICA_OPTIONS = ("--server-id=12", "--read-only=1", "--replicate-wild-do-table=extagram.%")
CATCH_UP_SECONDS = 10


@dataclass
class Replication:
    primary: MariaDBServer
    replica: MariaDBServer
    accounts: dict[str, Account]
    replication_account: Account

    def feed_settings(self, **extra) -> dict:
        """create_app overrides of a feed node: the primary over TCP, the replica on its socket."""
        settings = {"mode": "feed", "replica_unix_socket": self.replica.socket_path, **extra}
        return mariadb_server.app_settings(self.primary, self.accounts["feed"], **settings)

    def on_primary(self, sql: str, params: Any = ()) -> list[tuple]:
        return _query(self.primary, sql, params)

    def on_replica(self, sql: str, params: Any = ()) -> list[tuple]:
        return _query(self.replica, sql, params)

    def replica_status(self) -> dict | None:
        with self.replica.root_connection() as connection, connection.cursor(DictCursor) as cursor:
            cursor.execute("SHOW SLAVE STATUS")
            return cursor.fetchone()

    def add_post(self, text: str, photo: bytes | None = None) -> tuple[int, str | None]:
        """Publish through the primary as the upload account (the app's own SQL)."""
        name = photos.new_photo_name("jpg") if photo else None
        stored = store.Photo("image/jpeg", photo) if photo else None
        with self.primary.connection(self.accounts["upload"]) as connection:
            return store.publish_post(connection, text, name, stored, Config().max_photo_storage_bytes), name

    def wait_until_caught_up(self) -> None:
        """The replica has applied everything the primary has logged so far."""
        [(position,)] = self.on_primary("SELECT @@gtid_binlog_pos")
        [(result,)] = self.on_replica("SELECT MASTER_GTID_WAIT(%s, %s)", (position, CATCH_UP_SECONDS))
        assert result == 0, f"the replica did not reach {position}: {self.replica_status()}"

    def wait_for_status(self, condition: Callable[[dict], bool], what: str) -> dict:
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            status = self.replica_status()
            if status and condition(status):
                return status
            assert time.monotonic() < deadline, f"replica never {what}: {status}"
            time.sleep(0.05)

    def start_replication(self, delay_seconds: int = 0) -> None:
        """(Re)start replicating from the primary, whatever state the replica was left in."""
        if self.replica_status() is not None:
            self.on_replica("STOP SLAVE")
        self.on_replica(
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s,"
            " MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1,"
            " MASTER_DELAY = %s",
            (
                self.primary.host,
                self.primary.port,
                self.replication_account.user,
                self.replication_account.password,
                delay_seconds,
            ),
        )
        self.on_replica("START SLAVE")
        self.wait_for_status(lambda status: status["Slave_IO_Running"] == "Yes", "connected")

    def reset(self) -> None:
        """Both servers up, replicating without delay, empty tables on both."""
        for server in (self.primary, self.replica):
            if not _answers(server):
                server.resume()
        self.start_replication()
        self.on_primary("TRUNCATE TABLE extagram.posts")
        self.on_primary("TRUNCATE TABLE extagram.photos")
        self.on_primary("UPDATE extagram.photo_storage SET stored_bytes = 0")
        self.wait_until_caught_up()


@contextmanager
def replication() -> Iterator[Replication]:
    with ExitStack() as stack:
        primary = MariaDBServer(*PRIMARY_OPTIONS)
        stack.callback(primary.stop)
        replica = MariaDBServer(*REPLICA_OPTIONS)
        stack.callback(replica.stop)
        mariadb_server.start_together(primary, replica)
        accounts = mariadb_server.provision(primary)
        mariadb_server.migrate(primary, accounts)
        replication_account = mariadb_server.create_replication_account(primary)
        _seed(replica, primary, replication_account)
        _create_feed_account(replica, accounts["feed"])
        pair = Replication(primary, replica, accounts, replication_account)
        pair.start_replication()
        yield pair


def _seed(replica: MariaDBServer, primary: MariaDBServer, account: Account) -> None:
    """Copy the primary's database; the dump also sets gtid_slave_pos to where it was taken."""
    dump = subprocess.run(
        [
            "mariadb-dump",
            "--no-defaults",
            f"--host={primary.host}",
            f"--port={primary.port}",
            f"--user={account.user}",
            f"--password={account.password}",
            "--single-transaction",
            "--master-data=1",
            "--gtid",
            "--hex-blob",
            "--databases",
            mariadb_server.DB_NAME,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={replica.socket_path}", "--user=root"],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _create_feed_account(replica: MariaDBServer, feed: Account) -> None:
    host = "localhost"  # the app reaches the replica on its unix socket only
    _query(replica, "CREATE USER %s@%s IDENTIFIED BY %s", (feed.user, host, feed.password))
    _query(replica, f"GRANT SELECT ON {mariadb_server.DB_NAME}.* TO %s@%s", (feed.user, host))
    _query(replica, "GRANT SLAVE MONITOR ON *.* TO %s@%s", (feed.user, host))


def _query(server: MariaDBServer, sql: str, params: Any = ()) -> list[tuple]:
    with server.root_connection() as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _answers(server: MariaDBServer) -> bool:
    try:
        server.root_connection().close()
    except pymysql.err.OperationalError:
        return False
    return True
