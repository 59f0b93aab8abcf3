"""Extagram: a small photo feed. WSGI entry point: `gunicorn 'extagram:create_app()'`."""

from extagram.app import create_app

__all__ = ["create_app"]
