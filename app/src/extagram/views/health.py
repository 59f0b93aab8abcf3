"""Health check for the balancer: is the database answering?

A feed node answers for the source its reads use now (its replica or the primary), and says which.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from extagram.db import database_answers, get_db
from extagram.read_source import chosen_replica_health, chosen_source, get_read_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    mode = current_app.config["EXTAGRAM"].mode
    # One connection at a time: get_read_db() closes the replica's before it opens the primary's.
    answers = database_answers("health check", get_read_db if mode == "feed" else get_db)
    if not answers:
        return jsonify(status="unavailable", mode=mode, database="down"), 503
    if mode != "feed":
        return jsonify(status="ok", mode=mode, database="up")
    return jsonify(
        status="ok",
        mode=mode,
        database="up",
        reads=chosen_source(),
        replica=chosen_replica_health().as_json(),
    )
