"""MariaDB connections: one short-lived connection per request, always with timeouts.

A database that did not answer a connection attempt (hung, not refusing) is skipped by the
process for `db_fail_fast_seconds`: requests fail at once instead of each waiting out the
connect timeout, so a hung S7 cannot tie up every Gunicorn thread.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pymysql
from flask import Flask, current_app, g
from pymysql.constants import CR

from extagram.config import Config, ConfigError

# Errors meaning "the database cannot serve us right now" (down, hung, refused, denied).
UNAVAILABLE_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError)

_UNANSWERED = "extagram.db.unanswered"


def connect(config: Config, *, autocommit: bool = False) -> pymysql.connections.Connection:
    """The primary, over TCP or its unix socket (db_unix_socket)."""
    return _connect(config, config.db_unix_socket or None, autocommit=autocommit)


def connect_replica(config: Config) -> pymysql.connections.Connection:
    """The node's local replica (same account and database as on the primary, its own socket),
    skipped for a while after it did not answer."""
    address = f"the replica ({config.replica_unix_socket})"
    return _unanswered().attempt(address, lambda: _connect(config, config.replica_unix_socket))


def _connect(
    config: Config, unix_socket: str | None, *, autocommit: bool = False
) -> pymysql.connections.Connection:
    tls = _tls_context(config.db_tls_ca) if unix_socket is None and config.db_tls_ca else None
    connection = pymysql.connect(
        host=config.db_host,
        port=config.db_port,
        unix_socket=unix_socket,
        user=config.db_user,
        password=config.db_password,
        database=config.db_name,
        charset="utf8mb4",
        connect_timeout=config.db_connect_timeout,
        # PyMySQL reads the server's greeting and auth answer with the read timeout: the
        # connect timeout bounds each step of the handshake, the query timeout what follows.
        read_timeout=config.db_connect_timeout,
        write_timeout=config.db_connect_timeout,
        autocommit=autocommit,
        # A unix socket never leaves the node. Without ssl_disabled, PyMySQL >= 1.2 tries unverified
        # TLS ("preferred"), which stops no active attacker and builds a context per connection.
        **({"ssl": tls} if tls else {"ssl_disabled": True}),
    )
    if tls:
        tls.remember(connection)
    _use_query_timeouts(connection, config.db_query_timeout)
    return connection


class _ResumingContext(ssl.SSLContext):
    """Resumes the last TLS session with the same server: every request opens a connection, and
    on the lab's QEMU guests a full handshake took 44 ms, a resumed one 27 (docs/database.md)."""

    def __init__(self, protocol: int) -> None:
        # By the name the certificate was checked for and the server's (address, port): a
        # resumed session checks no certificate, so it is only offered for the same name.
        self.last_sessions: dict[tuple, ssl.SSLSession] = {}

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        kwargs.setdefault("session", self.last_sessions.get((server_hostname, sock.getpeername())))
        return super().wrap_socket(sock, *args, server_hostname=server_hostname, **kwargs)

    def remember(self, connection: pymysql.connections.Connection) -> None:
        # After the login: TLS 1.3 sends its resumption ticket once the handshake is over.
        tls_socket = connection._sock
        if isinstance(tls_socket, ssl.SSLSocket) and tls_socket.session is not None:
            key = (tls_socket.server_hostname, tls_socket.getpeername())
            self.last_sessions[key] = tls_socket.session


@cache
def _tls_context(ca_file: str) -> _ResumingContext:
    """One context per process and CA file: loading the CA costs more than a handshake."""
    context = _ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _check_tls_ca(ca_file: str) -> None:
    # At start: an unreadable CA file is a clear setting error, not a traceback per request.
    try:
        _tls_context(ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"db_tls_ca: cannot load the CA file {ca_file}: {error}") from error


def _use_query_timeouts(connection: pymysql.connections.Connection, seconds: float) -> None:
    # PyMySQL 1.2.4 (app/pyproject.toml) has no public way to change them after connecting; it
    # applies these attributes to the socket before its next read or write.
    connection._read_timeout = seconds
    connection._write_timeout = seconds


@dataclass
class _Skip:
    until: float
    trying: bool = False  # one attempt after the window is trying again; the others still skip


class Unanswered:
    """Databases whose last connection attempt got no answer, by address; shared by the threads."""

    def __init__(self, skip_seconds: float, connect_timeout: float, log: Callable[..., None]) -> None:
        self._skip_seconds = skip_seconds
        # A refusal comes back at once; no answer takes the timeout (half of it, to be safe).
        self._slow_seconds = connect_timeout / 2
        self._log = log
        self._lock = threading.Lock()
        self._skips: dict[str, _Skip] = {}

    def attempt(
        self, address: str, open_connection: Callable[[], pymysql.connections.Connection]
    ) -> pymysql.connections.Connection:
        """open_connection(); while `address` is skipped, the OperationalError at once instead."""
        if not self._skip_seconds:
            return open_connection()
        self._raise_while_skipped(address)
        started = time.monotonic()
        no_answer = None
        try:
            return open_connection()
        except UNAVAILABLE_ERRORS as error:
            if time.monotonic() - started >= self._slow_seconds:
                no_answer = error
            raise
        finally:
            # Anything but silence (a connection, a refusal, a denial) means the server is back.
            if no_answer is None:
                self._forget(address)
            else:
                self._skip(address, no_answer)

    def _raise_while_skipped(self, address: str) -> None:
        with self._lock:
            skip = self._skips.get(address)
            if skip is None:
                return
            if skip.until <= time.monotonic() and not skip.trying:
                skip.trying = True  # this attempt tries again
                return
        raise pymysql.err.OperationalError(
            CR.CR_CONN_HOST_ERROR,
            f"not connecting to {address}: it did not answer lately (skipped for {self._skip_seconds} s)",
        )

    def _skip(self, address: str, error: Exception) -> None:
        with self._lock:
            skip = self._skips.get(address)
            if skip is not None and not skip.trying:
                return  # a concurrent attempt got no answer either and opened the window
            self._skips[address] = _Skip(time.monotonic() + self._skip_seconds)
        self._log("%s did not answer (%s): failing at once for %s s", address, error, self._skip_seconds)

    def _forget(self, address: str) -> None:
        with self._lock:
            self._skips.pop(address, None)


def _unanswered() -> Unanswered:
    return current_app.extensions[_UNANSWERED]


def get_db() -> pymysql.connections.Connection:
    """The current request's connection to the primary (writes use it), opened on first use."""
    if "db" not in g:
        config = current_app.config["EXTAGRAM"]
        address = f"the primary ({config.db_unix_socket or f'{config.db_host}:{config.db_port}'})"
        g.db = _unanswered().attempt(address, lambda: connect(config))
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
    config = app.config["EXTAGRAM"]
    if config.db_tls_ca:
        _check_tls_ca(config.db_tls_ca)
    app.extensions[_UNANSWERED] = Unanswered(
        config.db_fail_fast_seconds, config.db_connect_timeout, app.logger.warning
    )
    app.teardown_appcontext(_close_db)
