"""Fixtures: the app as S1 serves it, and Debian's chromium driven by Playwright.

One session: a real private MariaDB, a real Gunicorn in mode "all" (feed and upload in one
process), and S1's feed cache (a local nginx with the balancer role's cache directives and TLS
settings) in front, over HTTPS, so every delay a test sees includes that cache. The certificate
comes from a CA made for the session; chromium trusts it through the NSS database of a HOME of
its own, and verifies the chain as it would S1's (no flag turns verification off).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from feed_page import FeedPage
from playwright.sync_api import Browser, sync_playwright

from extagram_testing.cached_nginx import CachedBalancer
from extagram_testing.gunicorn_server import GunicornServer
from extagram_testing.mariadb_server import Account, MariaDBServer, app_env, migrate, provision
from extagram_testing.throwaway_ca import ThrowawayCA

CHROMIUM = "/usr/bin/chromium"
# The flags known to work as root on these machines; the background-networking ones keep
# chromium from calling out through a network that refuses everything.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Short, so the notice test takes seconds; the poll interval stays the app's default, so the
# measured live-update delay is the one visitors get.
HEALTH_INTERVAL_MS = 1000


@dataclass(frozen=True)
class Site:
    url: str
    database: MariaDBServer
    upload_account: Account
    ca_file: Path  # the CA that signed the site's certificate
    metrics_url: str  # the app's metrics port (Gunicorn's second listener)
    access_log: Path  # the balancer's, in S1's format

    def upload_connection(self) -> pymysql.connections.Connection:
        """A connection as the app's upload account (SELECT, INSERT, UPDATE), autocommit on."""
        return self.database.connection(self.upload_account)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, test_ca: ThrowawayCA) -> Iterator[Site]:
    with contextlib.ExitStack() as running:
        database = running.enter_context(MariaDBServer())
        accounts = provision(database)
        migrate(database, accounts)
        env = app_env(
            database,
            accounts["upload"],
            mode="all",
            uploads_dir=str(tmp_path_factory.mktemp("photos")),
            health_interval_ms=HEALTH_INTERVAL_MS,
        )
        gunicorn = running.enter_context(GunicornServer(env))
        balancer = running.enter_context(CachedBalancer(gunicorn.url, tls=test_ca))
        yield Site(
            balancer.url,
            database,
            accounts["upload"],
            test_ca.ca_file,
            gunicorn.metrics_url,
            balancer.access_log,
        )


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory, test_ca: ThrowawayCA) -> Iterator[Browser]:
    home = tmp_path_factory.mktemp("chromium-home")
    test_ca.trust_in_nss(home)
    with sync_playwright() as playwright:
        # A fresh user data dir per launch: Playwright's launch() makes one.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        yield browser
        browser.close()


@pytest.fixture
def open_feed(browser: Browser, site: Site) -> Iterator[Callable[[], FeedPage]]:
    """Opens `/` in a new browser context (a separate visitor) each call; all closed afterwards."""
    contexts = []

    def open_page() -> FeedPage:
        context = browser.new_context(viewport={"width": 900, "height": 1200})
        contexts.append(context)
        return FeedPage.open(context, site.url)

    yield open_page
    for context in contexts:
        context.close()
