"""Node modes and their database accounts (real grants, not mocks)."""

from __future__ import annotations

import pymysql
import pytest
from app_helpers import publish

from extagram_testing.sample_images import image_bytes


def test_feed_account_cannot_insert(db):
    with db.server.connection(db.accounts["feed"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM posts")
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("INSERT INTO posts (post) VALUES ('sneaky')")
        assert denied.value.args[0] == 1142  # ER_TABLEACCESS_DENIED_ERROR
    assert db.count("posts") == 0


def test_upload_account_can_insert_but_not_change_schema(db):
    with db.server.connection(db.accounts["upload"]) as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO posts (post) VALUES ('allowed')")
        with pytest.raises(pymysql.err.OperationalError):
            cursor.execute("DELETE FROM posts")
        with pytest.raises(pymysql.err.OperationalError):
            cursor.execute("DROP TABLE photos")


def test_feed_mode_serves_reads_and_404s_uploads(make_app, db, uploads_dir):
    writer = make_app(mode="upload").test_client()
    assert publish(writer, "hello", photo=image_bytes("JPEG")).status_code == 303
    [(name, _photo)] = db.photos().items()

    feed = make_app(mode="feed").test_client()
    assert "hello" in feed.get("/").get_data(as_text=True)
    assert feed.get("/api/posts?after=0").status_code == 200
    assert feed.get(f"/storage/{name}").status_code == 200
    assert feed.get("/healthz").get_json()["mode"] == "feed"
    for path in ("/upload", "/upload.php"):
        response = publish(feed, "nope", path=path)
        assert response.status_code == 404
        assert "Traceback" not in response.get_data(as_text=True)
    # S1's last resort when neither static node can read the export.
    assert feed.get("/static/style.css").status_code == 200
    assert db.count("posts") == 1


def test_upload_mode_only_publishes(make_app, db):
    client = make_app(mode="upload").test_client()
    assert client.get("/healthz").status_code == 200
    for path in (
        "/",
        "/extagram.php",
        "/api/posts",
        "/static/style.css",
        "/storage/0123456789abcdef0123456789abcdef.jpg",
    ):
        assert client.get(path).status_code == 404, path
    assert publish(client, "from the upload node").status_code == 303


def test_upload_route_with_feed_credentials_fails_cleanly(make_app, db, uploads_dir):
    # A misconfigured node (mode all, SELECT-only account) must not store half a post.
    client = make_app(
        mode="all", db_user=db.accounts["feed"].user, db_password=db.accounts["feed"].password
    ).test_client()
    response = publish(client, "denied", photo=image_bytes("JPEG"))
    assert response.status_code == 503
    assert db.count("posts") == 0 and db.count("photos") == 0
    assert list(uploads_dir.iterdir()) == []


def test_unix_socket_setting_is_used(make_app, db):
    client = make_app(mode="feed", db_unix_socket=db.server.socket_path, db_port=1).test_client()
    assert client.get("/healthz").status_code == 200
