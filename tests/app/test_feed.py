"""The feed page and /api/posts: order, escaping, keyset pagination, live updates."""

from __future__ import annotations

import re

import pytest
from app_helpers import publish

from extagram import store
from extagram_testing.sample_images import image_bytes


def feed_texts(html: str) -> list[str]:
    return re.findall(r'<p class="post-text">(.*?)</p>', html, flags=re.S)


def older_link(html: str) -> int | None:
    match = re.search(r'href="/\?before=(\d+)"', html)
    return int(match.group(1)) if match else None


def test_page_has_form_preview_and_feed(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["X-Served-By"]
    assert re.search(
        r'<form[^>]+method="post"[^>]+action="/upload"[^>]+'
        r'enctype="multipart/form-data"',
        html,
    )
    assert re.search(r'<textarea[^>]+name="post"', html)
    assert re.search(r'<input[^>]+type="file"[^>]+name="photo"[^>]+accept="image/', html)
    assert 'src="/static/preview.svg"' in html
    assert re.search(r'<button[^>]*type="submit"[^>]*>Publish</button>', html)
    assert re.search(r'<script src="/static/extagram.js\?v=\w+" defer></script>', html)
    assert "No posts yet" in html


def test_page_is_csp_friendly(client, db):
    db.add_posts(3)
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], "inline script"
    assert "style=" not in html and "<style" not in html, "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_extagram_php_is_the_same_page(client, db):
    db.add_posts(2)
    assert feed_texts(client.get("/extagram.php").get_data(as_text=True)) == ["post 2", "post 1"]


def test_newest_first_with_text_above_its_photo(client):
    assert publish(client, "first").status_code == 303
    assert publish(client, "second", photo=image_bytes("PNG"), filename="a.png").status_code == 303
    html = client.get("/").get_data(as_text=True)
    assert feed_texts(html) == ["second", "first"]
    second = html.index(">second<")
    photo = html.index('<img class="post-photo" src="/storage/')
    assert second < photo < html.index(">first<")


def test_user_text_is_escaped_and_emoji_safe(client, db):
    text = '<script>alert("x")</script> & ünïcödé 😀🎉'
    assert publish(client, text).status_code == 303
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; ünïcödé 😀🎉" in html
    assert db.posts()[0][1] == text
    assert client.get("/api/posts").get_json()["posts"][0]["text"] == text


@pytest.mark.parametrize(("count", "shown", "has_older"), [(5, 5, False), (6, 5, True)])
def test_first_page_boundaries(make_app, db, count, shown, has_older):
    client = make_app(page_size=5).test_client()
    ids = db.add_posts(count)
    html = client.get("/").get_data(as_text=True)
    assert feed_texts(html) == [f"post {n}" for n in range(count, count - shown, -1)]
    assert older_link(html) == (ids[-5] if has_older else None)


def test_older_pages_follow_the_link_to_the_end(make_app, db):
    client = make_app(page_size=5).test_client()
    ids = db.add_posts(12)
    seen, url = [], "/"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += feed_texts(html)
        before = older_link(html)
        url = f"/?before={before}" if before else None
    assert seen == [f"post {n}" for n in range(12, 0, -1)]
    last_page = client.get(f"/?before={ids[0]}").get_data(as_text=True)
    assert feed_texts(last_page) == [] and "No older posts." in last_page
    assert older_link(last_page) is None


def test_default_page_size_is_twenty(client, db):
    db.add_posts(21)
    html = client.get("/").get_data(as_text=True)
    assert len(feed_texts(html)) == 20
    assert older_link(html) is not None


def test_live_endpoint_returns_only_newer_posts_oldest_first(client, db):
    ids = db.add_posts(4)
    body = client.get(f"/api/posts?after={ids[1]}").get_json()
    assert [post["id"] for post in body["posts"]] == ids[2:]
    assert body["has_more"] is False
    assert client.get(f"/api/posts?after={ids[-1]}").get_json() == {"posts": [], "has_more": False}
    post = body["posts"][0]
    assert set(post) == {"id", "text", "photo_url", "created_at"}
    assert post["text"] == "post 3" and post["photo_url"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", post["created_at"])


def test_an_unchanged_newest_page_is_answered_304_to_its_tag(client, db):
    db.add_posts(2)
    first = client.get("/api/posts")
    unchanged = client.get("/api/posts", headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b""
    db.add_posts(1)
    changed = client.get("/api/posts", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and len(changed.get_json()["posts"]) == 3


def test_live_endpoint_is_capped_at_a_page(make_app, db):
    client = make_app(page_size=5).test_client()
    ids = db.add_posts(12)
    body = client.get("/api/posts?after=0").get_json()
    assert [post["id"] for post in body["posts"]] == ids[:5]
    assert body["has_more"] is True


def test_api_pages_backwards_with_before(make_app, db):
    client = make_app(page_size=5).test_client()
    ids = db.add_posts(7)
    body = client.get(f"/api/posts?before={ids[3]}").get_json()
    assert [post["id"] for post in body["posts"]] == [ids[2], ids[1], ids[0]]
    assert body["has_more"] is False


@pytest.mark.parametrize(
    "query",
    ["after=abc", "after=-1", "before=1.5", "after=1&before=2", "before=" + "9" * 30, "after=%EF%BC%91"],
)
def test_bad_ids_are_rejected_by_the_api(client, query):
    response = client.get(f"/api/posts?{query}")
    assert response.status_code == 400 and "error" in response.get_json()


@pytest.mark.parametrize("query", ["before=abc", "before=1.5", "before=" + "9" * 30])
def test_bad_ids_are_rejected_by_the_page(client, query):
    response = client.get(f"/?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "not one the feed knows" in html and "Traceback" not in html


def test_static_files_are_served_in_development_mode(client):
    for name, kind in [
        ("style.css", "text/css"),
        ("preview.svg", "image/svg+xml"),
        ("extagram.js", "javascript"),
    ]:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.content_type


def test_script_never_uses_innerhtml(client):
    script = client.get("/static/extagram.js").get_data(as_text=True)
    # What the script does is checked in a real browser (tests/browser); here only what it must never do.
    assert "innerHTML" not in script and "textContent" in script


def test_every_response_names_the_server(client):
    for response in [
        client.get("/"),
        client.get("/missing"),
        client.post("/"),
        client.get("/healthz"),
        publish(client, ""),
    ]:
        assert response.headers.get("X-Served-By"), response.status


def handler_reads(connection) -> int:
    """Every row read the server counted in this session so far (Handler_read_*), full scans included."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Handler\\_read\\_%'")
        return sum(int(value) for _name, value in cursor.fetchall())


def rows_read(connection, query) -> int:
    """Rows the server read for query() (SHOW STATUS itself adds none on MariaDB 10.11)."""
    before = handler_reads(connection)
    query()
    return handler_reads(connection) - before


# A page of 20 plus the row that tells whether more exist, and the index's end.
PAGE_READS = 22


@pytest.mark.parametrize("table_size", [30, 3000])
def test_a_page_reads_the_same_rows_whatever_the_table_size(db, table_size):
    ids = db.add_posts(table_size)
    with db.server.connection(db.accounts["feed"]) as connection:
        for query in (
            lambda: store.newest_posts(connection, 20),
            lambda: store.newest_posts(connection, 20, before=ids[len(ids) // 2]),
            lambda: store.posts_after(connection, ids[0], 20),
        ):
            reads = rows_read(connection, query)
            assert reads <= PAGE_READS, (table_size, reads)


def test_the_row_count_catches_a_table_scan(db):
    """The check above can fail: a query without an index for its ORDER BY reads the whole table."""

    def scanning_query(connection):
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM posts ORDER BY created_at DESC LIMIT 20")
            cursor.fetchall()

    reads = {}
    with db.server.connection(db.accounts["feed"]) as connection:
        for table_size in (30, 3000):
            db.add_posts(table_size - db.count("posts"))
            reads[table_size] = rows_read(connection, lambda: scanning_query(connection))
    assert reads[3000] - reads[30] >= 3000 - 30, reads  # a read per row: it grows with the table
    assert reads[3000] > PAGE_READS, reads
