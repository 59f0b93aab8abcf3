"""Versioned SQL migrations shipped in the package, applied once each and recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from pymysql.connections import Connection

# Serialises concurrent `extagram db upgrade` runs (e.g. two hosts deploying at once).
_LOCK_NAME = "extagram.schema_migrations"
_LOCK_WAIT_SECONDS = 60

# Migration files hold plain statements, each ending with ";" at the end of a line.
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    def statements(self) -> list[str]:
        code = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [part.strip() for part in _STATEMENT_END.split(code) if part.strip()]


def available_migrations() -> list[Migration]:
    folder = resources.files("extagram") / "migrations"
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in files]


def upgrade(connection: Connection) -> list[str]:
    """Apply pending migrations in order; returns the versions applied (empty when up to date)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, %s)", (_LOCK_NAME, _LOCK_WAIT_SECONDS))
        if cursor.fetchone()[0] != 1:
            raise MigrationError("another `extagram db upgrade` is still running")
        try:
            return _apply_pending(cursor)
        finally:
            cursor.execute("SELECT RELEASE_LOCK(%s)", (_LOCK_NAME,))


def _apply_pending(cursor) -> list[str]:
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version VARCHAR(255) CHARACTER SET ascii NOT NULL PRIMARY KEY,"
        " applied_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()))"
    )
    cursor.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in cursor.fetchall()}
    applied = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        # MariaDB commits DDL implicitly, so each migration is recorded right after it runs.
        for statement in migration.statements():
            cursor.execute(statement)
        cursor.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
        applied.append(migration.version)
    return applied
