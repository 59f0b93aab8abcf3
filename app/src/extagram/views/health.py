"""Health check for the balancer: is the database answering?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from extagram.db import database_answers

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    mode = current_app.config["EXTAGRAM"].mode
    if not database_answers("health check"):
        return jsonify(status="unavailable", mode=mode, database="down"), 503
    return jsonify(status="ok", mode=mode, database="up")
