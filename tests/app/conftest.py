"""Fixtures: one real private MariaDB per test session, clean tables for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from app_helpers import ACCOUNT_FOR_MODE, Database
from replica_helpers import Replication, replication

from extagram import create_app
from extagram_testing import mariadb_server
from extagram_testing.cached_nginx import CachedBalancer
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import settings_env


@pytest.fixture(scope="session", autouse=True)
def isolated_environment():
    """Ignore the machine's /etc/extagram/extagram.toml and EXTAGRAM_* variables."""
    saved = dict(os.environ)
    for key in [key for key in os.environ if key.startswith("EXTAGRAM_")]:
        del os.environ[key]
    os.environ["EXTAGRAM_CONFIG"] = os.devnull
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def mariadb():
    with mariadb_server.MariaDBServer() as server:
        accounts = mariadb_server.provision(server)
        output = mariadb_server.migrate(server, accounts)
        yield Database(server, accounts, output)


@pytest.fixture
def db(mariadb: Database) -> Database:
    mariadb.query("TRUNCATE TABLE posts")
    mariadb.query("TRUNCATE TABLE photos")
    mariadb.query("UPDATE photo_storage SET stored_bytes = 0")
    return mariadb


@pytest.fixture
def uploads_dir(tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    return path


@pytest.fixture
def make_app(db: Database, uploads_dir: Path):
    def factory(mode: str = "all", **overrides):
        settings = db.settings(ACCOUNT_FOR_MODE[mode], mode=mode, uploads_dir=str(uploads_dir))
        settings.update(overrides)
        return create_app(settings)

    return factory


@pytest.fixture
def client(make_app):
    return make_app().test_client()


@pytest.fixture
def app_server(db: Database, uploads_dir: Path):
    """The app under a real Gunicorn, every route (mode all)."""
    env = settings_env(db.settings("upload", mode="all", uploads_dir=str(uploads_dir)))
    with GunicornServer(env, workers=2, threads=4) as running:
        yield running


@pytest.fixture
def s1(app_server):
    """S1's feed locations with the microcache, rendered from the role, in front of app_server."""
    with CachedBalancer(app_server.url) as nginx:
        yield nginx


@pytest.fixture(scope="module")
def replication_pair():
    """A real primary and a real replica of it, for the module (tests/app/replica_helpers.py)."""
    with replication() as pair:
        yield pair


@pytest.fixture
def pair(replication_pair: Replication) -> Replication:
    """Both up, replicating without delay, empty tables."""
    replication_pair.reset()
    return replication_pair
