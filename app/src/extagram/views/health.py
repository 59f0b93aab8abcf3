"""Health check for the balancer: is the database answering?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from extagram.db import UNAVAILABLE_ERRORS, get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    mode = current_app.config["EXTAGRAM"].mode
    try:
        with get_db().cursor() as cursor:
            cursor.execute("SELECT 1")
    except UNAVAILABLE_ERRORS as error:
        current_app.logger.warning("health check: database unavailable: %s", error)
        return jsonify(status="unavailable", mode=mode, database="down"), 503
    return jsonify(status="ok", mode=mode, database="up")
