"""MariaDB connections: one short-lived connection per request, always with timeouts."""

from __future__ import annotations

from collections.abc import Callable

import pymysql
from flask import Flask, current_app, g

from extagram.config import Config

# Errors meaning "the database cannot serve us right now" (down, hung, refused, denied).
UNAVAILABLE_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError)


def connect(config: Config, *, autocommit: bool = False) -> pymysql.connections.Connection:
    """The primary, over TCP or its unix socket (db_unix_socket)."""
    return _connect(config, config.db_unix_socket or None, autocommit=autocommit)


def connect_replica(config: Config) -> pymysql.connections.Connection:
    """The node's local replica: the same account and database as on the primary, its own socket."""
    return _connect(config, config.replica_unix_socket)


def _connect(
    config: Config, unix_socket: str | None, *, autocommit: bool = False
) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=config.db_host,
        port=config.db_port,
        unix_socket=unix_socket,
        user=config.db_user,
        password=config.db_password,
        database=config.db_name,
        charset="utf8mb4",
        connect_timeout=config.db_connect_timeout,
        read_timeout=config.db_query_timeout,
        write_timeout=config.db_query_timeout,
        autocommit=autocommit,
        # PyMySQL >= 1.2 otherwise tries unverified TLS ("preferred"), building a fresh SSL
        # context (~30 ms, it loads the CA bundle) per connection: the deployment's MariaDB
        # has no TLS and unverified TLS would not stop an active attacker anyway.
        ssl_disabled=True,
    )


def get_db() -> pymysql.connections.Connection:
    """The current request's connection to the primary (writes use it), opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["EXTAGRAM"])
    return g.db


def database_answers(
    asked_by: str, connection: Callable[[], pymysql.connections.Connection] = get_db
) -> bool:
    """A trivial query on the request's connection (the primary unless told); a failure is logged."""
    try:
        with connection().cursor() as cursor:
            cursor.execute("SELECT 1")
    except UNAVAILABLE_ERRORS as error:
        current_app.logger.warning("%s: database unavailable: %s", asked_by, error)
        return False
    return True


def _close_db(_error: BaseException | None) -> None:
    connection = g.pop("db", None)
    if connection is not None and connection.open:
        connection.close()  # never committed work is rolled back by the server


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_db)
