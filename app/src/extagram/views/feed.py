"""The feed page and its JSON twin used for live updates.

Both are the same for every visitor, so S1 caches them for `feed_cache_seconds`; the page a
poster lands on (`?posted=<id>`) is theirs alone and is never kept. Reads go to the node's
replica while it is fresh (read_source); the poster's page comes from the primary when the
replica has not received their post yet.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from pymysql.connections import Connection

from extagram import store
from extagram.errors import Rejected
from extagram.read_source import REPLICA, chosen_source, get_read_db, read_from_primary_instead
from extagram.shared_answers import shared_for_a_moment

bp = Blueprint("feed", __name__)

_POST_ID = re.compile(r"[0-9]{1,18}")


@bp.get("/")
@bp.get("/extagram.php")
def index():
    config = current_app.config["EXTAGRAM"]
    before = _post_id_param("before")
    posted = _post_id_param("posted")
    posts, has_older = store.newest_posts(_read_db_showing(posted), config.page_size, before)
    page = render_template(
        "index.html",
        posts=posts,
        older_before=posts[-1].id if has_older else None,
        # Live updates only make sense on the first page; older pages are a fixed window.
        live=before is None,
        posted=posted,
        max_text_length=config.max_text_length,
        poll_interval_ms=config.poll_interval_ms,
        health_interval_ms=config.health_interval_ms,
    )
    # The poster's own page is theirs alone: never kept (no-store, the default).
    return Response(page) if posted is not None else shared_for_a_moment(Response(page))


@bp.get("/api/posts")
def api_posts():
    page_size = current_app.config["EXTAGRAM"].page_size
    after = _post_id_param("after")
    before = _post_id_param("before")
    if after is not None and before is not None:
        raise Rejected(400, "Use either after or before, not both.")
    if after is not None:
        posts, has_more = store.posts_after(get_read_db(), after, page_size)
    else:
        posts, has_more = store.newest_posts(get_read_db(), page_size, before)
    return shared_for_a_moment(jsonify(posts=[post.as_json() for post in posts], has_more=has_more))


def _read_db_showing(post_id: int | None) -> Connection:
    """The read connection, moved to the primary if the replica lacks the poster's own post."""
    connection = get_read_db()
    if post_id is not None and chosen_source() == REPLICA and not store.has_post(connection, post_id):
        # Unless the primary is unavailable: then the post is simply not there yet.
        read_from_primary_instead()
    return get_read_db()


def _post_id_param(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not _POST_ID.fullmatch(value):
        raise Rejected(400, f"{name} must be a post id (a whole number).")
    return int(value)
