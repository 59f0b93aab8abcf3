"""Photos served from the database copy (used when a media node lacks the file)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from extagram import store
from extagram.db import get_db
from extagram.photos import is_photo_name

bp = Blueprint("media", __name__)

# A name is never reused for other bytes, so caches may keep a photo forever.
_CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.get("/storage/<path:name>")
def photo(name: str):
    # Anything outside the generated pattern is refused before touching disk or database.
    if not is_photo_name(name):
        abort(404)
    etag = name.partition(".")[0]
    if request.if_none_match.contains_weak(etag):
        if store.photo_mime_type(get_db(), name) is None:
            abort(404)
        response = Response(status=304)
    else:
        stored = store.photo(get_db(), name)
        if stored is None:
            abort(404)
        response = Response(stored.data, mimetype=stored.mime_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = _CACHE_CONTROL
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
