"""Custom error pages: friendly HTML (JSON under /api/), never a traceback."""

from __future__ import annotations

import pytest

from extagram.views.feed import NOT_CANONICAL


def assert_error_page(response, status: int, text: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.content_type == "text/html; charset=utf-8"
    assert text in html and 'href="/"' in html
    assert "Traceback" not in html and "werkzeug" not in html.lower()


def test_404_page(client):
    assert_error_page(client.get("/no/such/page"), 404, "There is nothing here")


def test_405_page(client):
    assert_error_page(client.post("/"), 405, "does not accept that kind of request")
    assert_error_page(client.get("/upload"), 405, "does not accept that kind of request")


def test_api_errors_are_json(client):
    response = client.get("/api/posts?after=x")
    assert response.status_code == 400
    assert response.get_json() == {"error": NOT_CANONICAL}


@pytest.fixture
def unmigrated_database(db):
    """A database the feed account can read but that has no tables: queries fail with 1146."""
    db.query("CREATE DATABASE IF NOT EXISTS extagram_unmigrated")
    for host in ("127.0.0.1", "localhost"):
        db.query("GRANT SELECT ON extagram_unmigrated.* TO %s@%s", (db.accounts["feed"].user, host))
    yield "extagram_unmigrated"
    db.query("DROP DATABASE extagram_unmigrated")


def test_500_page_hides_the_error(make_app, unmigrated_database, caplog):
    client = make_app(mode="feed", db_name=unmigrated_database).test_client()
    response = client.get("/")
    assert_error_page(response, 500, "Something went wrong on our side")
    assert response.headers["X-Served-By"]
    assert "doesn't exist" in caplog.text  # the cause goes to the log, not to the user
