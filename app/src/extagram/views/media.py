"""Photos served from the database copy (used when a media node lacks the file)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, request
from pymysql.connections import Connection

from extagram import store
from extagram.photos import is_photo_name
from extagram.read_source import get_read_db, read_from_primary_instead
from extagram.views.error_pages import error_response

bp = Blueprint("media", __name__)

# A name is never reused for other bytes, so caches may keep a photo forever.
_CACHE_CONTROL = "public, max-age=31536000, immutable"
# A name no post has: S1 may answer it without asking again for this long. A photo is committed
# with its post, so a name on a page is found (unless the primary is down and the replica lags).
_MISS_CACHE_CONTROL = "public, max-age=10"


@bp.get("/storage/<path:name>")
def photo(name: str):
    # Anything outside the generated pattern is refused before touching disk or database.
    if not is_photo_name(name):
        abort(404)
    etag = name.partition(".")[0]
    if request.if_none_match.contains_weak(etag):
        if _read_photo(store.photo_mime_type, name) is None:
            return _missing()
        response = Response(status=304)
    else:
        stored = _read_photo(store.photo, name)
        if stored is None:
            return _missing()
        response = Response(stored.data, mimetype=stored.mime_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = _CACHE_CONTROL
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def _missing() -> Response:
    response = error_response(404, "There is no such photo.")
    response.headers["Cache-Control"] = _MISS_CACHE_CONTROL
    return response


def _read_photo(read: Callable[[Connection, str], Any], name: str) -> Any:
    """`read` from the read source, then from the primary if the replica lacks the photo yet."""
    # A just-posted photo can be on its poster's page before the replica has it.
    found = read(get_read_db(), name)
    if found is None and read_from_primary_instead():
        found = read(get_read_db(), name)
    return found
