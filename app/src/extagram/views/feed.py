"""The feed page and its JSON twin used for live updates.

Both are the same for every visitor, so S1 caches them for `feed_cache_seconds`; the page a
poster lands on (`?posted=<proof>`, poster_proof.py) is theirs alone and is never kept. Reads go
to the node's replica while it is fresh (read_source); the poster's page comes from the primary
when the replica has not received their post yet.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from pymysql.connections import Connection

from extagram import poster_proof, store
from extagram.errors import Rejected
from extagram.read_source import REPLICA, chosen_source, get_read_db, read_from_primary_instead
from extagram.shared_answers import shared_for_a_moment

bp = Blueprint("feed", __name__)

# The one spelling of each feed address, byte for byte as it arrives (no percent-encoding, no other
# case, no sign or leading zero, one parameter at most): S1 keys its cache on the query, so a
# second spelling of a page would be a second copy, or a way to store one answer under another's
# key. nginx_balancer's feed-cache-zone.j2 refuses the same queries before they reach a feed node.
_POST_ID = rb"0|[1-9][0-9]{0,17}"
_PROOF = rb"(?P<posted>" + _POST_ID + rb")\.(?P<expires>[1-9][0-9]{9})\.(?P<signature>[0-9a-f]{32})"
_PAGE_QUERY = re.compile(rb"(?:before=(?P<before>" + _POST_ID + rb")|posted=" + _PROOF + rb")?")
_API_QUERY = re.compile(rb"(?:before=(?P<before>" + _POST_ID + rb")|after=(?P<after>" + _POST_ID + rb"))?")
NOT_CANONICAL = (
    "This address is not one the feed knows. The feed is at /; older posts are at /?before=<post id>."
)


@bp.get("/")
@bp.get("/extagram.php")
def index():
    config = current_app.config["EXTAGRAM"]
    query = _canonical_query(_PAGE_QUERY)
    posted = _number(query, "posted")
    if posted is not None and not _proof_holds(query):
        # Forged, altered or expired: the plain page, which S1 answers from its cache.
        return redirect("/", code=303)
    before = _number(query, "before")
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
    query = _canonical_query(_API_QUERY)
    after = _number(query, "after")
    if after is not None:
        posts, has_more = store.posts_after(get_read_db(), after, page_size)
    else:
        posts, has_more = store.newest_posts(get_read_db(), page_size, _number(query, "before"))
    answer = jsonify(posts=[post.as_json() for post in posts], has_more=has_more)
    # A poll that finds nothing new sends the tag back and gets a 304 without a body, from S1's
    # copy (nginx compares the tags) or from here.
    answer.add_etag()
    return shared_for_a_moment(answer.make_conditional(request))


def _read_db_showing(post_id: int | None) -> Connection:
    """The read connection, moved to the primary if the replica lacks the poster's own post."""
    connection = get_read_db()
    if post_id is not None and chosen_source() == REPLICA and not store.has_post(connection, post_id):
        # Unless the primary is unavailable: then the post is simply not there yet.
        read_from_primary_instead()
    return get_read_db()


def _canonical_query(pattern: re.Pattern[bytes]) -> dict[str, bytes | None]:
    """The query's parts by name (all None for no query); 400 for any other spelling."""
    match = pattern.fullmatch(request.query_string)
    if match is None:
        raise Rejected(400, NOT_CANONICAL)
    return match.groupdict()


def _number(query: dict[str, bytes | None], name: str) -> int | None:
    value = query[name]
    return None if value is None else int(value)


def _proof_holds(query: dict[str, bytes | None]) -> bool:
    secret = current_app.config["EXTAGRAM"].poster_proof_secret
    return poster_proof.is_valid(
        secret, int(query["posted"]), int(query["expires"]), query["signature"].decode()
    )
