"""Friendly error pages (JSON under /api/ and /healthz); never a traceback."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from extagram.db import UNAVAILABLE_ERRORS
from extagram.errors import Rejected, upload_too_large_message

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Upload too large",
    415: "Unsupported file",
    500: "Something went wrong",
    503: "Temporarily unavailable",
    507: "Storage full",
}

_MESSAGES = {
    400: "The request could not be understood.",
    403: "This request is not allowed.",
    404: "There is nothing here. It may have been moved, or the address is mistyped.",
    405: "This address does not accept that kind of request.",
    500: "Something went wrong on our side. Please try again.",
    503: "Extagram is temporarily unavailable. Please try again in a moment.",
}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Rejected, _rejected)
    app.register_error_handler(HTTPException, _http_error)
    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, _database_unavailable)


def _rejected(error: Rejected):
    return error_response(error.status, error.message)


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error  # routing redirects are raised as HTTPExceptions too
    if error.code == 413:
        limit = current_app.config["EXTAGRAM"].max_upload_bytes
        return error_response(413, upload_too_large_message(limit))
    return error_response(error.code, _MESSAGES.get(error.code, error.description))


def _database_unavailable(error: Exception):
    current_app.logger.warning("database unavailable for %s %s: %s", request.method, request.path, error)
    response = error_response(503, _MESSAGES[503])
    response.headers["Retry-After"] = "5"
    return response


def error_response(status: int, message: str):
    if request.path.startswith("/api/") or request.path == "/healthz":
        response = jsonify(error=message)
    else:
        title = _TITLES.get(status, "Error")
        response = current_app.make_response(
            render_template("error.html", status=status, title=title, message=message)
        )
    response.status_code = status
    return response
