"""Where the feed reads: the node's own replica while it is fresh, otherwise the primary.

Chosen once per request on first use and kept in flask.g; the app adds `X-Read-From` to every
answer that read. A replica that is behind, stopped or gone is skipped; but when the primary
cannot be reached either, a replica that still answers is read anyway: a stale feed beats a 503.
Writes never come here (db.get_db() is the primary).

A request holds one connection at a time: the replica's is closed before the primary's opens,
and opened again if the primary is unavailable. So a node holds at most one connection per
Gunicorn thread, whichever database each reads (docs/database.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pymysql
from flask import Flask, current_app, g
from pymysql.connections import Connection

from extagram import store
from extagram.config import Config
from extagram.db import UNAVAILABLE_ERRORS, connect_replica, get_db

REPLICA = "replica"
PRIMARY = "primary"

# The replica's states: fresh | lagging | stopped (SQL thread) | disconnected (not receiving from the
# primary) | not-replicating (no replication configured, e.g. promoted) | down (no answer) | none
# (no replica configured).
FRESH = "fresh"

# Why a request's reads went where they did (the `reason` label of extagram_db_reads_total): the
# replica is fresh; it is not (its state, e.g. "lagging", sends the reads to the primary); the
# primary is unavailable, so a replica that is not fresh answers anyway; no replica is configured;
# the replica lacks the poster's post or a photo yet, so the primary answers it.
PRIMARY_UNAVAILABLE = "primary-unavailable"
NO_REPLICA = "no-replica"
REPLICA_LACKS_ROW = "replica-lacks-row"

_LAST_LOGGED = "extagram.read_source.last_logged"


@dataclass(frozen=True)
class ReplicaHealth:
    state: str
    lag_seconds: int | None = None
    # What the replica's own thread says went wrong (MariaDB's error number and text), if anything.
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "lag_seconds": self.lag_seconds, "error": self.error}


NOT_CONFIGURED = ReplicaHealth("none")


def classify(status: Mapping[str, Any] | None, max_lag_seconds: int) -> ReplicaHealth:
    """Judge one SHOW SLAVE STATUS row (None: the server replicates nothing)."""
    if not status:
        return ReplicaHealth("not-replicating")
    if status["Slave_SQL_Running"] != "Yes":
        return ReplicaHealth("stopped", error=_thread_error(status, "SQL"))
    # Not receiving (the primary out of reach, the login refused, its binary log purged): whatever
    # it applied, it cannot know what it misses. Read the primary, or this copy if it is down too.
    if status["Slave_IO_Running"] != "Yes":
        return ReplicaHealth("disconnected", error=_thread_error(status, "IO"))
    lag = status["Seconds_Behind_Master"]
    lag = None if lag is None else int(lag)
    if lag is not None and lag <= max_lag_seconds:
        return ReplicaHealth(FRESH, lag)
    return ReplicaHealth("lagging", lag)


def _thread_error(status: Mapping[str, Any], thread: str) -> str | None:
    number = status.get(f"Last_{thread}_Errno")
    return f"{number}: {status.get(f'Last_{thread}_Error', '')}" if number else None


def get_read_db() -> Connection:
    """The connection for this request's reads; raises like get_db() when nothing answers."""
    if "read_db" not in g:
        g.read_from, g.read_db, g.read_reason = _choose_source(current_app.config["EXTAGRAM"])
    return g.read_db


def chosen_source() -> str | None:
    """REPLICA or PRIMARY once this request has chosen where to read, else None."""
    return g.get("read_from")


def chosen_reason() -> str | None:
    """Why this request reads where it does (FRESH, a replica state, PRIMARY_UNAVAILABLE...)."""
    return g.get("read_reason")


def chosen_replica_health() -> ReplicaHealth:
    return g.get("replica_health", NOT_CONFIGURED)


def read_from_primary_instead() -> bool:
    """Move this request's reads from the replica to the primary, for what the replica lacks yet.

    False when the reads already come from the primary, or it is unavailable (the replica's
    answer stands then).
    """
    if chosen_source() != REPLICA:
        return False
    primary = _primary_instead_of_replica(current_app.config["EXTAGRAM"])
    if primary is None:
        current_app.logger.warning(
            "answering from the replica, the primary is unavailable: %s", g.primary_error
        )
        g.read_db = g.replica_db
        return False
    g.read_from, g.read_db, g.read_reason = PRIMARY, primary, REPLICA_LACKS_ROW
    return True


def _choose_source(config: Config) -> tuple[str, Connection, str]:
    if not config.replica_unix_socket:
        g.replica_health = NOT_CONFIGURED
        return PRIMARY, get_db(), NO_REPLICA
    replica, g.replica_health, problem = _probe_replica(config)
    if g.replica_health.state == FRESH:
        _log_change(REPLICA, "reading the replica again: it is fresh")
        return REPLICA, replica, FRESH
    primary = _primary_instead_of_replica(config)
    if primary is not None:
        _log_change(PRIMARY, f"reading the primary, not the replica: it is {_described()}{problem}")
        return PRIMARY, primary, g.replica_health.state
    if replica is None:
        raise g.primary_error  # neither answers: the 503 page
    # A stale feed beats a 503.
    _log_change(
        REPLICA, f"reading the {_described()} replica: the primary is unavailable ({g.primary_error})"
    )
    return REPLICA, g.replica_db, PRIMARY_UNAVAILABLE


def _primary_instead_of_replica(config: Config) -> Connection | None:
    """The primary's connection, the replica's closed before it opens (one connection at a time).

    None when the primary is unavailable; the replica's connection, if the request had one, is
    then open again, or the primary's error is raised when the replica no longer answers either.
    """
    if "primary_error" in g:
        return None  # tried already: the replica's connection was kept
    had_replica = "replica_db" in g
    _close_replica_db()
    primary = _primary_if_available()
    if primary is None and had_replica:
        try:
            g.replica_db = connect_replica(config)
        except pymysql.err.MySQLError as error:
            raise g.primary_error from error  # neither answers: the 503 page
    return primary


def _primary_if_available() -> Connection | None:
    """get_db(), or None when the primary is unavailable (tried once per request)."""
    if "primary_error" in g:
        return None
    try:
        return get_db()
    except UNAVAILABLE_ERRORS as error:
        g.primary_error = error
        return None


def _probe_replica(config: Config) -> tuple[Connection | None, ReplicaHealth, str]:
    """Connect to the replica and judge it; the connection stays open (in g) unless it is down."""
    try:
        g.replica_db = connect_replica(config)
        status = store.replication_status(g.replica_db)
    # Any error, a missing SLAVE MONITOR grant included: a replica we cannot judge is not read.
    except pymysql.err.MySQLError as error:
        _close_replica_db()
        return None, ReplicaHealth("down"), f" ({error})"
    return g.replica_db, classify(status, config.replica_max_lag_seconds), ""


def _described() -> str:
    health = g.replica_health
    if health.lag_seconds is not None and health.state != FRESH:
        return f"{health.state} ({health.lag_seconds} s behind)"
    return health.state


def _log_change(source: str, message: str) -> None:
    """Log when this worker's choice or the replica's state changes, not on every request."""
    situation = (source, g.replica_health.state)
    last_logged = current_app.extensions[_LAST_LOGGED]
    previous = last_logged.get("situation")
    if previous == situation:
        return
    last_logged["situation"] = situation
    if situation != (REPLICA, FRESH):
        current_app.logger.warning("%s", message)
    elif previous is not None:
        current_app.logger.info("%s", message)


def _close_replica_db(_error: BaseException | None = None) -> None:
    connection = g.pop("replica_db", None)
    if connection is not None and connection.open:
        connection.close()


def init_app(app: Flask) -> None:
    app.extensions[_LAST_LOGGED] = {}
    app.teardown_appcontext(_close_replica_db)
