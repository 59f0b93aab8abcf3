"""Helpers of the app tests only (kept out of conftest.py so tests can import them).

What the benchmark and the dev server share with them is in tests/support (extagram_testing).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from extagram import poster_proof
from extagram.migrations import available_migrations
from extagram_testing import mariadb_server

# Which account each mode uses, as on the deployed nodes ("all" needs INSERT).
ACCOUNT_FOR_MODE = {"feed": "feed", "upload": "upload", "all": "upload"}


@dataclass
class Database:
    server: mariadb_server.MariaDBServer
    accounts: dict[str, mariadb_server.Account]
    first_migration_output: str

    def settings(self, role: str, **extra) -> dict:
        return mariadb_server.app_settings(self.server, self.accounts[role], **extra)

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def global_status(self, name: str) -> int:
        """One of MariaDB's counters (SHOW GLOBAL STATUS), read on a connection of its own."""
        return int(self.query("SHOW GLOBAL STATUS LIKE %s", (name,))[0][1])

    def count(self, table: str) -> int:
        return self.query(f"SELECT COUNT(*) FROM {table}")[0][0]

    def posts(self) -> list[tuple]:
        """(id, post, photourl) rows, newest first."""
        return self.query("SELECT id, post, photourl FROM posts ORDER BY id DESC")

    def photos(self) -> dict[str, tuple[str, bytes]]:
        """name -> (mime_type, data)."""
        return {
            name: (mime, data) for name, mime, data in self.query("SELECT name, mime_type, data FROM photos")
        }

    def add_posts(self, count: int, text: str = "post {}") -> list[int]:
        """Insert posts straight into the table (fast setup); returns their ids, oldest first."""
        with self.server.root_connection(mariadb_server.DB_NAME) as connection, connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO posts (post) VALUES (%s)",
                [(text.format(number),) for number in range(1, count + 1)],
            )
            cursor.execute("SELECT id FROM posts ORDER BY id")
            return [row[0] for row in cursor.fetchall()]


def publish(
    client,
    text: str | None = "hello",
    *,
    photo: bytes | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    path: str = "/upload",
):
    data = {}
    if text is not None:
        data["post"] = text
    if photo is not None:
        data["photo"] = (io.BytesIO(photo), filename, content_type)
    return client.post(path, data=data, content_type="multipart/form-data")


def assert_nothing_stored(db: Database, uploads_dir: Path) -> None:
    assert db.count("posts") == 0
    assert db.count("photos") == 0
    assert list(uploads_dir.iterdir()) == []


def expected_migration_count() -> int:
    return len(available_migrations())


def posters_page(post_id: int, lifetime_seconds: int = 30) -> str:
    """The page POST /upload sends the poster of `post_id` to, with a proof the test apps accept."""
    proof = poster_proof.issue(mariadb_server.TEST_POSTER_PROOF_SECRET, post_id, lifetime_seconds)
    return f"/?posted={proof}"


# MariaDB's smallest max_connections; beyond it only an account with SUPER gets in (one more).
SMALLEST_MAX_CONNECTIONS = 10


@contextmanager
def out_of_connections(server: mariadb_server.MariaDBServer) -> Iterator[None]:
    """`server` at its connection limit (made small, then filled by root): any app account's
    connection is refused with "Too many connections" until the block ends."""

    def connected(connection) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            return int(cursor.fetchone()[1])

    held = []
    with server.root_connection() as control:
        with control.cursor() as cursor:
            cursor.execute("SELECT @@GLOBAL.max_connections")
            [limit] = cursor.fetchone()
            cursor.execute(f"SET GLOBAL max_connections = {SMALLEST_MAX_CONNECTIONS}")
        try:
            # `control` is the one more that SUPER may open: the others fill the limit.
            while connected(control) <= SMALLEST_MAX_CONNECTIONS:
                held.append(server.root_connection())
            yield
        finally:
            for connection in held:
                connection.close()
            with control.cursor() as cursor:
                cursor.execute(f"SET GLOBAL max_connections = {limit}")
