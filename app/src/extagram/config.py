"""Settings: a flat TOML file, then EXTAGRAM_<KEY> environment variables, then code overrides.

The keys are part of the deployment contract (docs/design.md), so they are listed once here
with their type and default, and every value is validated before the app starts.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CONFIG_PATH = "/etc/extagram/extagram.toml"
CONFIG_PATH_VARIABLE = "EXTAGRAM_CONFIG"
ENV_PREFIX = "EXTAGRAM_"
MODES = ("feed", "upload", "all")
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """A setting is missing or invalid; the message says which one and why."""


@dataclass(frozen=True)
class Config:
    mode: str | None = None
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_name: str = "extagram"
    db_user: str | None = None
    db_password: str = ""
    db_unix_socket: str | None = None
    # The CA file that signed the primary's certificate: set, every TCP connection to the primary
    # is TLS, verifying the chain and that the certificate names db_host; unset, plain TCP.
    db_tls_ca: str | None = None
    db_connect_timeout: float = 2.0
    # Bounds every read and write on the DB socket, so a hung database cannot pile up workers.
    db_query_timeout: float = 5.0
    # After a connection attempt the database did not answer (a hung server, not a refusal), this
    # process fails at once for that long instead of tying up another thread; 0: never.
    db_fail_fast_seconds: int = 3
    uploads_dir: str | None = None
    uploads_write_timeout: float = 2.0
    max_text_length: int = 1000
    max_upload_bytes: int = 10 * 1024 * 1024
    # Photo bytes all posts may store together; a photo that would cross it is refused (507).
    max_photo_storage_bytes: int = 2 * 1024**3
    page_size: int = 20
    # How long S1 (and browsers) may reuse the feed page and the live-update answer.
    feed_cache_seconds: int = 1
    # The page's script: how often it asks for new posts, and whether posting works.
    poll_interval_ms: int = 1200
    health_interval_ms: int = 15000
    # Signs the poster's proof (poster_proof.py); the same on every app node; required.
    poster_proof_secret: str = ""
    # How long that proof lets its page skip S1's cache.
    poster_proof_seconds: int = 30
    # A feed node's local read-only replica (its unix socket); unset: every read goes to the primary.
    replica_unix_socket: str | None = None
    # A replica further behind is not read (the primary is), unless the primary is unreachable.
    replica_max_lag_seconds: int = 5
    # The port whose connections get the app's metrics (GET /metrics, and nothing else there);
    # Gunicorn listens on it too. 0: the metrics are served nowhere.
    metrics_port: int = 0

    def require(self, *keys: str) -> None:
        missing = [key for key in keys if getattr(self, key) in (None, "")]
        if missing:
            hints = ", ".join(f"{key} (or env {ENV_PREFIX}{key.upper()})" for key in missing)
            raise ConfigError(f"missing required setting(s): {hints}")


_FIELDS = {field.name: field for field in dataclasses.fields(Config)}
_TYPES = {"str": str, "str | None": str, "int": int, "float": float}

# (minimum, maximum) for numbers; the text limit keeps 4-byte characters inside a TEXT column.
_RANGES = {
    "db_port": (1, 65535),
    "db_connect_timeout": (0.1, 60),
    "db_query_timeout": (0.1, 300),
    "db_fail_fast_seconds": (0, 60),
    "uploads_write_timeout": (0.1, 60),
    "max_text_length": (1, 16000),
    "max_upload_bytes": (1024, 64 * 1024 * 1024),
    "max_photo_storage_bytes": (1024**2, 16 * 1024**4),
    "page_size": (1, 100),
    "feed_cache_seconds": (0, 300),
    "poll_interval_ms": (200, 600000),
    "health_interval_ms": (500, 3600000),
    "replica_max_lag_seconds": (0, 3600),
    "poster_proof_seconds": (5, 3600),
    "metrics_port": (0, 65535),
}


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    values.update(_read_file(environ))
    values.update(_read_environment(environ))
    values.update(_checked_values(overrides or {}, "config_overrides"))
    config = Config(**values)
    _validate(config)
    return config


def _read_file(environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get(CONFIG_PATH_VARIABLE)
    if path is None:
        path = DEFAULT_CONFIG_PATH
        if not os.path.exists(path):
            return {}  # the default file is optional; a file named explicitly is not
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    return _checked_values(data, path)


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for key in _FIELDS:
        name = ENV_PREFIX + key.upper()
        if name in environ:
            values[key] = _parse_text(key, environ[name], name)
    return values


def _parse_text(key: str, text: str, source: str) -> Any:
    expected = _TYPES[_FIELDS[key].type]
    if expected is str:
        return text
    try:
        return expected(text.strip())
    except ValueError:
        kind = "an integer" if expected is int else "a number"
        raise ConfigError(f"{source}: {key} must be {kind}, got {text!r}") from None


def _checked_values(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    values = {}
    for key, value in data.items():
        if key not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        expected = _TYPES[_FIELDS[key].type]
        accepted = (int, float) if expected is float else (expected,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(f"{source}: {key} must be of type {expected.__name__}, got {value!r}")
        values[key] = value
    return values


def _validate(config: Config) -> None:
    if config.mode is not None and config.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {config.mode!r}")
    for key, (low, high) in _RANGES.items():
        value = getattr(config, key)
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, got {value!r}")
    if 0 < len(config.poster_proof_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"poster_proof_secret must be at least {MIN_SECRET_LENGTH} characters")
