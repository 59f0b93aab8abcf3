"""A feed node reads its local replica while it is fresh, else the primary; never a needless 503.

One real primary and one real replica (GTID replication) for the module; every test starts
with both up, replicating without delay and empty tables.
"""

from __future__ import annotations

import re
import time

import pymysql
import pytest
from app_helpers import out_of_connections, posters_page
from replica_helpers import Replication

from extagram import create_app
from extagram.config import ConfigError, load_config
from extagram.read_source import classify
from extagram_testing.mariadb_server import free_port
from extagram_testing.sample_images import image_bytes

PUBLIC = "public, max-age=1"


def feed_client(pair: Replication, **settings):
    return create_app(pair.feed_settings(**settings)).test_client()


def feed_texts(response) -> list[str]:
    return re.findall(r'<p class="post-text">(.*?)</p>', response.get_data(as_text=True), flags=re.S)


def assert_read_from(response, source: str, status: int = 200) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.headers["X-Read-From"] == source


def health(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def expected_health(reads: str, state: str, lag_seconds: int | None, error: str | None = None) -> dict:
    replica = {"state": state, "lag_seconds": lag_seconds, "error": error}
    return {"status": "ok", "mode": "feed", "database": "up", "reads": reads, "replica": replica}


def test_fresh_replica_serves_the_feed_the_api_and_photos(pair):
    photo = image_bytes("JPEG")
    post_id, name = pair.add_post("from the replica", photo)
    pair.wait_until_caught_up()
    client = feed_client(pair)

    page = client.get("/")
    assert_read_from(page, "replica")
    assert feed_texts(page) == ["from the replica"]
    assert page.headers["Cache-Control"] == PUBLIC

    api = client.get("/api/posts")
    assert_read_from(api, "replica")
    assert [post["id"] for post in api.get_json()["posts"]] == [post_id]

    stored = client.get(f"/storage/{name}")
    assert_read_from(stored, "replica")
    assert stored.data == photo and stored.mimetype == "image/jpeg"

    assert health(client) == expected_health("replica", "fresh", 0)
    assert client.get("/healthz").headers["X-Read-From"] == "replica"


def test_replica_lagging_beyond_the_bound_sends_reads_to_the_primary(pair, caplog):
    pair.start_replication(delay_seconds=30)
    try:
        post_id, _ = pair.add_post("too new for the replica")
        # The replica holds the post back for 30 s; its lag grows by a second every second.
        pair.wait_for_status(lambda status: (status["Seconds_Behind_Master"] or 0) > 1, "lagged 2 s")
        client = feed_client(pair, replica_max_lag_seconds=1)

        page = client.get("/")
        assert_read_from(page, "primary")
        assert feed_texts(page) == ["too new for the replica"]
        assert_read_from(client.get(f"/api/posts?after={post_id - 1}"), "primary")
        answer = health(client)
        assert (answer["reads"], answer["replica"]["state"]) == ("primary", "lagging")
        assert answer["replica"]["lag_seconds"] > 1
        assert "reading the primary, not the replica: it is lagging" in caplog.text
        assert pair.on_replica("SELECT COUNT(*) FROM extagram.posts") == [(0,)]
    finally:
        pair.start_replication(delay_seconds=0)
    pair.wait_until_caught_up()


def test_stopped_sql_thread_sends_reads_to_the_primary(pair):
    pair.on_replica("STOP SLAVE SQL_THREAD")
    pair.add_post("applied on the primary only")
    client = feed_client(pair)

    page = client.get("/")
    assert_read_from(page, "primary")
    assert feed_texts(page) == ["applied on the primary only"]
    assert health(client) == expected_health("primary", "stopped", None)


def test_missing_replica_socket_sends_reads_to_the_primary(pair, tmp_path, caplog):
    pair.add_post("no replica here")
    client = feed_client(pair, replica_unix_socket=str(tmp_path / "missing.sock"))

    assert feed_texts(client.get("/")) == ["no replica here"]
    assert_read_from(client.get("/"), "primary")
    assert health(client) == expected_health("primary", "down", None)
    # Logged when the situation changes, not on every request.
    assert caplog.text.count("it is down") == 1


def test_halted_replica_sends_reads_to_the_primary_without_a_failed_request(pair):
    client = feed_client(pair)
    assert_read_from(client.get("/"), "replica")
    pair.replica.halt()
    try:
        pair.add_post("while the replica is down")
        page = client.get("/")
        assert_read_from(page, "primary")
        assert feed_texts(page) == ["while the replica is down"]
        assert_read_from(client.get("/api/posts"), "primary")
        assert health(client) == expected_health("primary", "down", None)
    finally:
        pair.replica.resume()
    pair.wait_until_caught_up()
    assert_read_from(client.get("/"), "replica")


def test_primary_down_the_replica_still_serves_the_newest_post(pair, tmp_path, caplog):
    newest, _ = pair.add_post("before the outage")
    pair.wait_until_caught_up()
    client = feed_client(pair)
    pair.primary.halt()
    try:
        pair.wait_for_status(lambda status: status["Slave_IO_Running"] != "Yes", "disconnected")
        # Not fresh (it cannot know what it misses), but the primary is out of reach: read anyway.
        page = client.get("/")
        assert_read_from(page, "replica")
        assert feed_texts(page) == ["before the outage"]
        assert_read_from(client.get(f"/api/posts?after={newest - 1}"), "replica")
        answer = health(client)
        assert answer["reads"] == "replica"
        assert (answer["replica"]["state"], answer["replica"]["lag_seconds"]) == ("disconnected", None)
        assert answer["replica"]["error"].startswith("2003: "), answer  # the primary refuses connections
        assert "reading the disconnected replica: the primary is unavailable" in caplog.text
        # The poster's page of a post the replica lacks: no primary to ask, so the replica's page.
        landing = client.get(posters_page(newest + 1))
        assert_read_from(landing, "replica")
        assert landing.headers["Cache-Control"] == "no-store"

        # A stale replica beats a 503.
        pair.on_replica("STOP SLAVE SQL_THREAD")
        assert_read_from(client.get("/"), "replica")
        assert health(client) == expected_health("replica", "stopped", None)
        assert "reading the stopped replica: the primary is unavailable" in caplog.text

        # Neither answers: the friendly 503, as without a replica.
        nothing = feed_client(pair, replica_unix_socket=str(tmp_path / "missing.sock"))
        page = nothing.get("/")
        assert page.status_code == 503 and "temporarily unavailable" in page.get_data(as_text=True)
        assert "X-Read-From" not in page.headers
        outage = nothing.get("/healthz")
        assert outage.status_code == 503
        assert outage.get_json() == {"status": "unavailable", "mode": "feed", "database": "down"}
    finally:
        pair.on_replica("START SLAVE SQL_THREAD")
        pair.primary.resume()
    pair.wait_for_status(lambda status: status["Slave_IO_Running"] == "Yes", "reconnected")


def test_a_replica_out_of_connections_is_skipped_for_the_primary(pair, caplog):
    pair.add_post("read from the primary")
    pair.wait_until_caught_up()
    client = feed_client(pair)
    with out_of_connections(pair.replica):
        page = client.get("/")
    assert_read_from(page, "primary")
    assert feed_texts(page) == ["read from the primary"]
    assert "Too many connections" in caplog.text


def test_a_hung_replica_is_skipped_while_the_primary_is_still_read(pair, caplog):
    pair.add_post("read from the primary")
    client = feed_client(pair, db_connect_timeout=0.5, db_fail_fast_seconds=60)
    with pair.replica.paused():
        started = time.monotonic()
        page = client.get("/")
        assert 0.4 <= time.monotonic() - started < 0.5 * 1.8  # the replica's connect timeout, once
        assert_read_from(page, "primary")
        for _ in range(3):
            started = time.monotonic()
            page = client.get("/")
            assert time.monotonic() - started < 0.1  # the replica is skipped, the primary is not
            assert_read_from(page, "primary")
            assert feed_texts(page) == ["read from the primary"]
    assert health(client) == expected_health("primary", "down", None)
    assert caplog.text.count("failing at once for 60 s") == 1
    assert "the replica (" in caplog.text and "the primary (" not in caplog.text


def test_the_poster_sees_their_post_from_the_primary_until_the_replica_has_it(pair):
    older, _ = pair.add_post("older")
    pair.wait_until_caught_up()
    # Delayed by 60 s and allowed an hour of lag: fresh by the rule, yet without the next post.
    pair.start_replication(delay_seconds=60)
    try:
        own, name = pair.add_post("my own post", image_bytes("JPEG"))
        client = feed_client(pair, replica_max_lag_seconds=3600)
        assert health(client)["replica"]["state"] == "fresh"

        landing = client.get(posters_page(own))
        assert_read_from(landing, "primary")
        assert feed_texts(landing) == ["my own post", "older"]
        assert landing.headers["Cache-Control"] == "no-store"

        feed = client.get("/")
        assert_read_from(feed, "replica")
        assert feed_texts(feed) == ["older"]
        assert feed.headers["Cache-Control"] == PUBLIC

        already_there = client.get(posters_page(older))
        assert_read_from(already_there, "replica")
        assert already_there.headers["Cache-Control"] == "no-store"

        # Its photo, on the page the primary rendered, too.
        assert_read_from(client.get(f"/storage/{name}"), "primary")
        assert client.get(f"/storage/{'0' * 32}.jpg").status_code == 404
    finally:
        pair.start_replication(delay_seconds=0)
    pair.wait_until_caught_up()


def test_a_replica_whose_login_is_refused_is_not_fresh(pair, caplog):
    # The replication account's password changed on the primary: the replica keeps what it has
    # applied and retries, refused (1045); it will never catch up by itself.
    account = pair.replication_account
    at = (account.user, pair.primary.host)
    pair.on_primary("ALTER USER %s@%s IDENTIFIED BY 'changed-elsewhere'", at)
    try:
        pair.on_replica("STOP SLAVE IO_THREAD")
        pair.on_replica("START SLAVE IO_THREAD")
        pair.wait_for_status(lambda status: status["Last_IO_Errno"] == 1045, "refused")
        pair.add_post("only on the primary")
        client = feed_client(pair)
        page = client.get("/")
        assert_read_from(page, "primary")
        assert feed_texts(page) == ["only on the primary"]
        replica = health(client)["replica"]
        assert replica["state"] == "disconnected" and replica["error"].startswith("1045: "), replica
        assert "reading the primary, not the replica: it is disconnected" in caplog.text
    finally:
        pair.on_primary("ALTER USER %s@%s IDENTIFIED BY %s", (*at, account.password))
        pair.on_replica("STOP SLAVE IO_THREAD")
        pair.on_replica("START SLAVE IO_THREAD")
    pair.wait_until_caught_up()


def test_a_server_that_replicates_nothing_is_not_read(pair):
    # As after a promotion: no replication configured at all.
    pair.on_replica("STOP SLAVE")
    pair.on_replica("RESET SLAVE ALL")
    client = feed_client(pair)
    assert_read_from(client.get("/"), "primary")
    assert health(client) == expected_health("primary", "not-replicating", None)


def test_without_a_replica_every_read_is_the_primary(pair):
    client = feed_client(pair, replica_unix_socket="")
    assert_read_from(client.get("/"), "primary")
    assert_read_from(client.get("/api/posts"), "primary")
    assert health(client) == expected_health("primary", "none", None)


class ConnectionsAtOnce:
    """The connections `user` opened (pymysql.connect) and the most of them open at once."""

    def __init__(self, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self._user = user
        self._connect = pymysql.connect
        self.opened: list[pymysql.connections.Connection] = []
        self.most = 0
        monkeypatch.setattr(pymysql, "connect", self.connect)

    def connect(self, *args, **kwargs) -> pymysql.connections.Connection:
        connection = self._connect(*args, **kwargs)
        if kwargs.get("user") == self._user:
            self.opened.append(connection)
            self.most = max(self.most, sum(opened.open for opened in self.opened))
        return connection


def test_a_request_holds_one_connection_at_a_time_whichever_database_answers(pair, monkeypatch):
    """The replica's connection is closed before the primary's opens, and opened again when the
    primary is unavailable: a node holds at most one connection per thread (test_db_connections.py)."""
    pair.add_post("older")
    pair.wait_until_caught_up()
    pair.start_replication(delay_seconds=60)  # fresh by a bound of an hour, yet without the next post
    held = ConnectionsAtOnce(pair.accounts["feed"].user, monkeypatch)
    try:
        own, name = pair.add_post("my own post", image_bytes("JPEG"))
        fresh = feed_client(pair, replica_max_lag_seconds=3600)
        refused = feed_client(pair, replica_max_lag_seconds=3600, db_port=free_port())
        # The replica lacks the row: the primary, or the replica again when the primary refuses.
        assert_read_from(fresh.get(posters_page(own)), "primary")
        assert_read_from(fresh.get(f"/storage/{name}"), "primary")
        assert_read_from(refused.get(posters_page(own)), "replica")
        # The replica is stopped, not fresh: the primary, or the stale replica again.
        pair.on_replica("STOP SLAVE SQL_THREAD")
        assert_read_from(fresh.get("/"), "primary")
        assert health(fresh)["reads"] == "primary"
        assert_read_from(refused.get("/"), "replica")
    finally:
        pair.start_replication(delay_seconds=0)
    pair.wait_until_caught_up()
    assert held.most == 1, f"{held.most} connections at once; {len(held.opened)} opened"


# A replica that has applied all it received: positions as SHOW SLAVE STATUS reports them.
_CAUGHT_UP = {
    "Slave_IO_Running": "Yes",
    "Slave_SQL_Running": "Yes",
    "Seconds_Behind_Master": 0,
    "Master_Log_File": "bin.000002",
    "Read_Master_Log_Pos": 900,
    "Relay_Master_Log_File": "bin.000002",
    "Exec_Master_Log_Pos": 900,
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Seconds_Behind_Master": 5}, ("fresh", 5, None)),
        ({"Seconds_Behind_Master": 6, "Exec_Master_Log_Pos": 800}, ("lagging", 6, None)),
        ({"Seconds_Behind_Master": None}, ("lagging", None, None)),
        # Not receiving, whatever it applied: the primary out of reach, purged logs, a refused login.
        ({"Slave_IO_Running": "Connecting", "Seconds_Behind_Master": None}, ("disconnected", None, None)),
        (
            {"Slave_IO_Running": "No", "Last_IO_Errno": 1236, "Last_IO_Error": "Got fatal error 1236"},
            ("disconnected", None, "1236: Got fatal error 1236"),
        ),
        (
            {"Slave_IO_Running": "Connecting", "Last_IO_Errno": 1045, "Last_IO_Error": "Access denied"},
            ("disconnected", None, "1045: Access denied"),
        ),
        (
            {"Slave_SQL_Running": "No", "Last_SQL_Errno": 1146, "Last_SQL_Error": "Table doesn't exist"},
            ("stopped", None, "1146: Table doesn't exist"),
        ),
    ],
)
def test_classify_replication_status(changes, expected):
    health = classify({**_CAUGHT_UP, **changes}, max_lag_seconds=5)
    assert (health.state, health.lag_seconds, health.error) == expected


def test_an_empty_replication_status_is_not_replicating():
    assert classify(None, 5).state == "not-replicating"


def test_replica_settings_have_defaults_and_bounds():
    config = load_config(environ={"EXTAGRAM_CONFIG": "/dev/null"})
    assert (config.replica_unix_socket, config.replica_max_lag_seconds) == (None, 5)
    environ = {
        "EXTAGRAM_CONFIG": "/dev/null",
        "EXTAGRAM_REPLICA_UNIX_SOCKET": "/run/mysqld/mysqld.sock",
        "EXTAGRAM_REPLICA_MAX_LAG_SECONDS": "0",
    }
    config = load_config(environ=environ)
    assert (config.replica_unix_socket, config.replica_max_lag_seconds) == ("/run/mysqld/mysqld.sock", 0)
    for bad in (-1, 3601):
        with pytest.raises(ConfigError, match="replica_max_lag_seconds must be between 0 and 3600"):
            load_config({"replica_max_lag_seconds": bad}, environ={"EXTAGRAM_CONFIG": "/dev/null"})
    with pytest.raises(ConfigError, match="replica_max_lag_seconds must be an integer"):
        load_config(environ={"EXTAGRAM_CONFIG": "/dev/null", "EXTAGRAM_REPLICA_MAX_LAG_SECONDS": "2.5"})
