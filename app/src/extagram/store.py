"""All SQL of the app. Parameterised queries only, and a LIMIT on every read.

`posts` keeps the seed's column names (`post`, `photourl`). Photo bytes live in `photos`,
so rendering the feed never reads a BLOB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymysql.connections import Connection
from pymysql.cursors import DictCursor

from extagram.errors import STORAGE_FULL, Rejected


@dataclass(frozen=True)
class Post:
    id: int
    text: str
    photo_name: str | None
    created_at: datetime

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "photo_url": f"/storage/{self.photo_name}" if self.photo_name else None,
            "created_at": self.created_at.isoformat() + "Z",
        }


@dataclass(frozen=True)
class Photo:
    mime_type: str
    data: bytes


class StorageFull(Rejected):
    """The photo would take the stored photo bytes over max_photo_storage_bytes."""

    def __init__(self) -> None:
        super().__init__(
            507, "Extagram's photo storage is full. Posts without a photo still work.", STORAGE_FULL
        )


_POST_COLUMNS = "id, post, photourl, created_at"


def newest_posts(connection: Connection, limit: int, before: int | None = None) -> tuple[list[Post], bool]:
    """Newest first, starting below `before`; also tells whether older posts exist."""
    # Keyset pagination on the primary key: the cost is the same on any page and table size.
    sql = f"SELECT {_POST_COLUMNS} FROM posts"
    params: list[int] = []
    if before is not None:
        sql += " WHERE id < %s"
        params.append(before)
    sql += " ORDER BY id DESC LIMIT %s"
    params.append(limit + 1)
    posts = _fetch_posts(connection, sql, params)
    return posts[:limit], len(posts) > limit


def posts_after(connection: Connection, after: int, limit: int) -> tuple[list[Post], bool]:
    """Oldest first, strictly newer than `after` (for live polling); also tells if more wait."""
    sql = f"SELECT {_POST_COLUMNS} FROM posts WHERE id > %s ORDER BY id ASC LIMIT %s"
    posts = _fetch_posts(connection, sql, [after, limit + 1])
    return posts[:limit], len(posts) > limit


def has_post(connection: Connection, post_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM posts WHERE id = %s LIMIT 1", (post_id,))
        return cursor.fetchone() is not None


def _fetch_posts(connection: Connection, sql: str, params: list[int]) -> list[Post]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Post(*row) for row in cursor.fetchall()]


def publish_post(
    connection: Connection, text: str, photo_name: str | None, photo: Photo | None, max_photo_bytes: int
) -> int:
    """Store the photo bytes and the post in one transaction; returns the post id.

    Raises StorageFull when the photo would take all stored photos over `max_photo_bytes`. On any
    error nothing is committed: the request's connection is closed without COMMIT.
    """
    with connection.cursor() as cursor:
        if photo is not None:
            _count_photo_bytes(cursor, len(photo.data), max_photo_bytes)
            cursor.execute(
                "INSERT INTO photos (name, mime_type, data) VALUES (%s, %s, %s)",
                (photo_name, photo.mime_type, photo.data),
            )
        cursor.execute(
            "INSERT INTO posts (post, photourl, created_at) VALUES (%s, %s, UTC_TIMESTAMP())",
            (text, photo_name),
        )
        post_id = cursor.lastrowid
    connection.commit()
    return post_id


def _count_photo_bytes(cursor, size: int, max_photo_bytes: int) -> None:
    # One row, locked until this transaction ends: exact under concurrent uploads, and the same
    # cost at any number of photos (never a SUM over the photos table).
    cursor.execute(
        "UPDATE photo_storage SET stored_bytes = stored_bytes + %s WHERE id = 1 AND stored_bytes + %s <= %s",
        (size, size, max_photo_bytes),
    )
    if cursor.rowcount == 0:
        raise StorageFull


def photo_storage_bytes(connection: Connection) -> int | None:
    """The photo bytes all posts store together (the counter the cap is checked against)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT stored_bytes FROM photo_storage WHERE id = 1 LIMIT 1")
        row = cursor.fetchone()
    return int(row[0]) if row else None


def photo_mime_type(connection: Connection, name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT mime_type FROM photos WHERE name = %s LIMIT 1", (name,))
        row = cursor.fetchone()
    return row[0] if row else None


def photo(connection: Connection, name: str) -> Photo | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT mime_type, data FROM photos WHERE name = %s LIMIT 1", (name,))
        row = cursor.fetchone()
    return Photo(*row) if row else None


def photo_names_after(connection: Connection, after: str, limit: int) -> list[str]:
    """Photo names in order, for walking the whole table in bounded batches."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM photos WHERE name > %s ORDER BY name LIMIT %s", (after, limit))
        return [row[0] for row in cursor.fetchall()]


def replication_status(connection: Connection) -> dict | None:
    """The replica's SHOW SLAVE STATUS row by column name; None when the server replicates nothing."""
    # By name: the column list grows between MariaDB versions.
    with connection.cursor(DictCursor) as cursor:
        cursor.execute("SHOW SLAVE STATUS")
        return cursor.fetchone()
