"""The app's link to the primary on TLS (db_tls_ca): verified chain and name, plain refused.

A MariaDB of its own, with a certificate from a throw-away CA for 127.0.0.1, and the TCP accounts
requiring TLS as role mariadb makes them; the socket accounts stay plain, as on a feed node's replica.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from app_helpers import Database, publish
from test_failures import assert_friendly_503

from extagram import create_app
from extagram import db as extagram_db
from extagram.config import ConfigError, load_config
from extagram_testing import mariadb_server
from extagram_testing.throwaway_ca import ThrowawayCA

ACCESS_DENIED = 1045


@pytest.fixture(scope="module")
def server_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA(tmp_path_factory.mktemp("db-ca"), "mariadb")


@pytest.fixture(scope="module")
def tls_mariadb(server_ca: ThrowawayCA) -> Iterator[Database]:
    with mariadb_server.MariaDBServer(*mariadb_server.tls_options(server_ca)) as server:
        accounts = mariadb_server.provision(server)
        output = mariadb_server.migrate(server, accounts)
        with server.root_connection() as connection, connection.cursor() as cursor:
            for account in accounts.values():
                cursor.execute("ALTER USER %s@%s REQUIRE SSL", (account.user, server.host))
        yield Database(server, accounts, output)


@pytest.fixture
def tls_settings(tls_mariadb: Database, server_ca: ThrowawayCA, tmp_path: Path):
    tls_mariadb.query("TRUNCATE TABLE posts")

    def settings(**overrides) -> dict:
        values = tls_mariadb.settings("upload", mode="all", uploads_dir=str(tmp_path))
        return {**values, "db_tls_ca": str(server_ca.ca_file), **overrides}

    return settings


def session_tls_version(connection: pymysql.connections.Connection) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        return cursor.fetchone()[1]


def test_the_app_posts_and_reads_over_verified_tls(tls_settings, tls_mariadb):
    client = create_app(tls_settings()).test_client()
    assert publish(client, "over TLS").status_code == 303
    assert "over TLS" in client.get("/").get_data(as_text=True)
    with extagram_db.connect(load_config(tls_settings())) as connection:
        assert session_tls_version(connection) in ("TLSv1.2", "TLSv1.3")
    assert tls_mariadb.count("posts") == 1


def test_a_plain_connection_of_an_app_account_is_refused(tls_settings):
    with pytest.raises(pymysql.err.OperationalError) as refused:
        extagram_db.connect(load_config(tls_settings(db_tls_ca="")))
    assert refused.value.args[0] == ACCESS_DENIED


def test_a_server_certificate_from_another_ca_is_refused(tls_settings, tmp_path, tls_mariadb):
    (tmp_path / "stranger").mkdir()
    stranger = ThrowawayCA(tmp_path / "stranger")
    client = create_app(tls_settings(db_tls_ca=str(stranger.ca_file))).test_client()
    assert_friendly_503(publish(client, "never stored"))
    assert_friendly_503(client.get("/"))
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        extagram_db.connect(load_config(tls_settings(db_tls_ca=str(stranger.ca_file))))
    assert tls_mariadb.count("posts") == 0


def test_the_certificate_must_name_db_host(tls_settings):
    # "localhost" reaches the same server, but its certificate names only 127.0.0.1; a session
    # resumed from 127.0.0.1 would check no certificate, so none is offered.
    extagram_db.connect(load_config(tls_settings())).close()
    with pytest.raises(pymysql.err.OperationalError, match="match"):
        extagram_db.connect(load_config(tls_settings(db_host="localhost")))


def test_the_local_socket_stays_plain(tls_settings, tls_mariadb):
    config = load_config(tls_settings(db_unix_socket=tls_mariadb.server.socket_path))
    with extagram_db.connect(config) as connection:
        assert session_tls_version(connection) == ""


def test_an_unreadable_ca_file_stops_the_app_at_start(tls_settings, tmp_path):
    with pytest.raises(ConfigError, match="db_tls_ca"):
        create_app(tls_settings(db_tls_ca=str(tmp_path / "missing.crt")))


def test_the_next_connection_resumes_the_tls_session(tls_settings):
    config = load_config(tls_settings())
    extagram_db.connect(config).close()
    with extagram_db.connect(config) as connection:
        assert connection._sock.session_reused
        assert session_tls_version(connection) in ("TLSv1.2", "TLSv1.3")
