"""Flask application factory."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response

from extagram import db, metrics, read_source
from extagram.config import load_config
from extagram.views import error_pages, feed, health, media, upload
from extagram.views import metrics as metrics_view

STATIC_DIR = Path(__file__).parent / "static"

_BLUEPRINTS_BY_MODE = {
    "feed": (feed.bp, media.bp, health.bp),
    "upload": (upload.bp, health.bp),
    "all": (feed.bp, media.bp, upload.bp, health.bp),
}

# Room for the text field and the multipart framing on top of the photo itself.
_FORM_OVERHEAD_BYTES = 64 * 1024


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    config = load_config(config_overrides)
    config.require("mode", "db_user", "poster_proof_secret")
    if config.mode != "feed":
        config.require("uploads_dir")

    # The assets node serves /static in deployment; feed nodes keep a copy as S1's last resort
    # when the assets and media nodes cannot (their export is gone), and development needs it.
    app = Flask(
        "extagram",
        static_folder=str(STATIC_DIR) if config.mode in ("feed", "all") else None,
        static_url_path="/static",
    )
    app.config.update(
        EXTAGRAM=config,
        MAX_CONTENT_LENGTH=config.max_upload_bytes + 4 * config.max_text_length + _FORM_OVERHEAD_BYTES,
    )
    db.init_app(app)
    read_source.init_app(app)
    error_pages.register_error_handlers(app)
    # First: the metrics port's requests get the metrics, and no other hook runs for them.
    app.register_blueprint(metrics_view.bp)
    metrics.init_app(app)
    for blueprint in _BLUEPRINTS_BY_MODE[config.mode]:
        app.register_blueprint(blueprint)

    served_by = socket.gethostname()
    asset_version = _asset_version()

    @app.context_processor
    def template_globals() -> dict[str, str]:
        return {"asset_version": asset_version}

    @app.after_request
    def common_headers(response: Response) -> Response:
        response.headers["X-Served-By"] = served_by
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Nothing is cacheable unless its view says so: errors, uploads and health never are.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.after_request
    def read_from_header(response: Response) -> Response:
        # Which database this answer was read from: for the failover tests and S1's logs.
        source = read_source.chosen_source()
        if source is not None:
            response.headers["X-Read-From"] = source
        return response

    return app


def _asset_version() -> str:
    """Short hash of the static files, appended to their URLs to bust caches on deploy."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
