"""Answers that are the same for every visitor for a moment, so S1 and browsers may reuse them.

Everything else is `no-store` (the app factory's default header).
"""

from __future__ import annotations

from flask import Response, current_app


def shared_for_a_moment(response: Response) -> Response:
    seconds = current_app.config["EXTAGRAM"].feed_cache_seconds
    response.headers["Cache-Control"] = f"public, max-age={seconds}"
    return response
