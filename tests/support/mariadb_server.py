"""A private, throw-away MariaDB for tests, the benchmark and the dev server.

Debian's mariadbd runs from its own temp datadir with its own unix socket and a free TCP port on
127.0.0.1; nothing is shared with a system MariaDB. Used as a context manager it is always torn
down, datadir included.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql

from extagram_testing import processes

DB_NAME = "extagram"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30

# Debian puts mariadbd in /usr/sbin, which is not on every PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
_RUN_AS_ROOT = ["--user=root"] if os.geteuid() == 0 else []


def stop_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so `with MariaDBServer()` blocks still clean up."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _program(name: str) -> str:
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise RuntimeError(f"{name} not found: install the Debian package mariadb-server")
    return path


@dataclass(frozen=True)
class Account:
    user: str
    password: str


class MariaDBServer:
    host = "127.0.0.1"

    def __init__(self, *server_options: str) -> None:
        # e.g. "--log-bin" or "--server-id=2": a primary and a replica for the replication tests.
        self.server_options = server_options
        self.base_dir = Path(tempfile.mkdtemp(prefix="extagram-mariadb-"))
        self.datadir = self.base_dir / "data"
        self.socket_path = str(self.base_dir / "mysqld.sock")
        self.error_log = self.base_dir / "error.log"
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MariaDBServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        self._install_datadir()
        self.resume()

    def _install_datadir(self) -> None:
        subprocess.run(
            [
                _program("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                # Its own temp dir: two bootstraps at once collide on temp table names in /tmp.
                f"--tmpdir={self.base_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *_RUN_AS_ROOT,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def resume(self) -> None:
        """(Re)start mariadbd on the existing datadir, same port and accounts."""
        # setpriv's parent-death signal: no orphan mariadbd if our process is killed.
        self._process = subprocess.Popen(
            [
                "setpriv",
                "--pdeathsig",
                "TERM",
                "--",
                _program("mariadbd"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--pid-file={self.base_dir / 'mysqld.pid'}",
                f"--log-error={self.error_log}",
                f"--tmpdir={self.base_dir}",
                "--skip-name-resolve",
                "--max-connections=300",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                # Durability is irrelevant for a throw-away server; speed matters.
                "--innodb-buffer-pool-size=256M",
                "--innodb-log-file-size=64M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--max-allowed-packet=64M",
                *self.server_options,
                *_RUN_AS_ROOT,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"mariadbd exited early:\n{self._log_tail()}")
            try:
                self.root_connection().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd did not start:\n{self._log_tail()}") from None
                time.sleep(0.1)

    def _log_tail(self) -> str:
        if not self.error_log.exists():
            return "(no error log)"
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def halt(self) -> None:
        """Shut mariadbd down (an outage, for tests); the datadir and port stay for resume()."""
        if self._process is not None:
            processes.stop(self._process, STOP_TIMEOUT_SECONDS)
        self._process = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """mariadbd stopped (SIGSTOP), as a hung server: connections are accepted, never greeted."""
        self._process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._process.send_signal(signal.SIGCONT)

    def root_connection(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=self.socket_path,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=2,
            ssl_disabled=True,
        )

    def connection(self, account: Account) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=account.user,
            password=account.password,
            database=DB_NAME,
            autocommit=True,
            connect_timeout=2,
            ssl_disabled=True,
        )


def tls_options(ca) -> tuple[str, ...]:
    """mariadbd's options to serve TLS with a ThrowawayCA's certificate (made for 127.0.0.1)."""
    return (f"--ssl-ca={ca.ca_file}", f"--ssl-cert={ca.certificate_file}", f"--ssl-key={ca.key_file}")


def start_together(*servers: MariaDBServer) -> None:
    """Start several servers (a primary and its replica), their slow datadir setups side by side."""
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(MariaDBServer._install_datadir, servers))
    # mariadbd from this thread: its parent-death signal fires when the starting *thread* ends.
    for server in servers:
        server.resume()


# The three accounts and grants of docs/design.md.
GRANTS = {
    "feed": "SELECT",
    "upload": "SELECT, INSERT, UPDATE",  # UPDATE: the photo_storage counter
    "migrate": "ALL PRIVILEGES",
}


def provision(server: MariaDBServer) -> dict[str, Account]:
    """Create the extagram database and its feed/upload/migrate accounts."""
    accounts = {role: Account(f"extagram_{role}", secrets.token_hex(12)) for role in GRANTS}
    with server.root_connection() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        for role, account in accounts.items():
            for host in ("127.0.0.1", "localhost"):
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (account.user, host, account.password))
                cursor.execute(f"GRANT {GRANTS[role]} ON {DB_NAME}.* TO %s@%s", (account.user, host))
    return accounts


def create_replication_account(primary: MariaDBServer, user: str = "extagram_replica") -> Account:
    """The account a replica's IO thread and its seeding mariadb-dump log in as (roles/mariadb's grants)."""
    account = Account(user, secrets.token_hex(12))
    with primary.root_connection() as connection, connection.cursor() as cursor:
        at = (user, primary.host)
        cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (*at, account.password))
        cursor.execute("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO %s@%s", at)
        cursor.execute(f"GRANT SELECT, SHOW VIEW, TRIGGER ON {DB_NAME}.* TO %s@%s", at)
    return account


# The poster's proof secret of every test app (poster_proof.py); a deployment generates its own.
TEST_POSTER_PROOF_SECRET = "test-only-poster-proof-secret-0123456789"


def app_settings(server: MariaDBServer, account: Account, **settings) -> dict:
    """Config overrides (create_app) for connecting as `account` over TCP."""
    return {
        "poster_proof_secret": TEST_POSTER_PROOF_SECRET,
        "db_host": server.host,
        "db_port": server.port,
        "db_name": DB_NAME,
        "db_user": account.user,
        "db_password": account.password,
        **settings,
    }


def settings_env(settings: dict) -> dict[str, str]:
    """The same settings as EXTAGRAM_* environment variables (for the CLI and Gunicorn).

    EXTAGRAM_CONFIG names an empty TOML file, so the machine's own config file never counts.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXTAGRAM_")}
    env["EXTAGRAM_CONFIG"] = os.devnull
    env.update({f"EXTAGRAM_{key.upper()}": str(value) for key, value in settings.items()})
    return env


def app_env(server: MariaDBServer, account: Account, **settings) -> dict[str, str]:
    """The environment of an `extagram` command or Gunicorn connecting as `account`."""
    return settings_env(app_settings(server, account, **settings))


def extagram_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the installed `extagram` console script next to this Python."""
    script = Path(sys.executable).with_name("extagram")
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def migrate(server: MariaDBServer, accounts: dict[str, Account]) -> str:
    """`extagram db upgrade` as the migrate account; returns its output."""
    result = extagram_command("db", "upgrade", env=app_env(server, accounts["migrate"]))
    if result.returncode != 0:
        raise RuntimeError(f"extagram db upgrade failed: {result.stderr}")
    return result.stdout.strip()
