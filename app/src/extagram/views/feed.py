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

# The one spelling of each feed address, byte for byte as it arrives (no percent-encoding, no other
# case, no sign or leading zero, one parameter at most): S1 keys its cache on the query, so a
# second spelling of a page would be a second copy, or a way to store one answer under another's
# key. nginx_balancer's feed-cache-zone.j2 refuses the same queries before they reach a feed node.
_POST_ID = rb"(0|[1-9][0-9]{0,17})"
_PAGE_QUERY = re.compile(rb"(?:(before|posted)=" + _POST_ID + rb")?")
_API_QUERY = re.compile(rb"(?:(before|after)=" + _POST_ID + rb")?")
NOT_CANONICAL = (
    "This address is not one the feed knows. The feed is at /; older posts are at /?before=<post id>."
)


@bp.get("/")
@bp.get("/extagram.php")
def index():
    config = current_app.config["EXTAGRAM"]
    name, post_id = _the_one_parameter(_PAGE_QUERY)
    before = post_id if name == "before" else None
    posted = post_id if name == "posted" else None
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
    name, post_id = _the_one_parameter(_API_QUERY)
    after = post_id if name == "after" else None
    before = post_id if name == "before" else None
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


def _the_one_parameter(pattern: re.Pattern[bytes]) -> tuple[str | None, int | None]:
    """(name, post id) of the query's one parameter, (None, None) for no query; 400 otherwise."""
    match = pattern.fullmatch(request.query_string)
    if match is None:
        raise Rejected(400, NOT_CANONICAL)
    name, post_id = match.groups()
    return (None, None) if name is None else (name.decode(), int(post_id))
