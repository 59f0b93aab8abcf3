"""Settings: TOML file, EXTAGRAM_* overrides, create_app overrides, clear validation errors."""

from __future__ import annotations

import pytest

from extagram import create_app
from extagram.config import ConfigError, load_config


def write_toml(tmp_path, text: str) -> str:
    path = tmp_path / "extagram.toml"
    path.write_text(text)
    return str(path)


def test_file_then_environment_then_overrides(tmp_path):
    path = write_toml(
        tmp_path, 'mode = "feed"\ndb_user = "from_file"\npage_size = 7\ndb_connect_timeout = 1\n'
    )
    environ = {
        "EXTAGRAM_CONFIG": path,
        "EXTAGRAM_DB_USER": "from_env",
        "EXTAGRAM_DB_CONNECT_TIMEOUT": "0.5",
        "EXTAGRAM_MAX_TEXT_LENGTH": "50",
    }
    config = load_config({"max_text_length": 60}, environ=environ)
    assert config.mode == "feed"
    assert config.db_user == "from_env"
    assert config.page_size == 7
    assert config.db_connect_timeout == 0.5
    assert config.max_text_length == 60


def test_defaults_follow_the_design_contract():
    config = load_config(environ={"EXTAGRAM_CONFIG": "/dev/null"})
    assert (config.db_port, config.db_name, config.db_connect_timeout) == (3306, "extagram", 2)
    assert (config.uploads_write_timeout, config.max_text_length) == (2, 1000)
    assert (config.max_upload_bytes, config.page_size) == (10485760, 20)
    assert (config.db_fail_fast_seconds, config.max_photo_storage_bytes) == (3, 2 * 1024**3)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EXTAGRAM_DB_PORT": "abc"}, "EXTAGRAM_DB_PORT: db_port must be an integer"),
        ({"EXTAGRAM_DB_PORT": "70000"}, "db_port must be between 1 and 65535"),
        ({"EXTAGRAM_MODE": "both"}, "mode must be one of feed, upload, all"),
        ({"EXTAGRAM_PAGE_SIZE": "0"}, "page_size must be between 1 and 100"),
        ({"EXTAGRAM_UPLOADS_WRITE_TIMEOUT": "soon"}, "uploads_write_timeout must be a number"),
        ({"EXTAGRAM_DB_FAIL_FAST_SECONDS": "61"}, "db_fail_fast_seconds must be between 0 and 60"),
        ({"EXTAGRAM_DB_FAIL_FAST_SECONDS": "-1"}, "db_fail_fast_seconds must be between 0 and 60"),
        ({"EXTAGRAM_MAX_PHOTO_STORAGE_BYTES": "0"}, "max_photo_storage_bytes must be between 1048576 and"),
        (
            {"EXTAGRAM_MAX_PHOTO_STORAGE_BYTES": str(16 * 1024**4 + 1)},
            "max_photo_storage_bytes must be between 1048576 and 17592186044416",
        ),
        ({"EXTAGRAM_CONFIG": "/nonexistent/extagram.toml"}, "cannot read config file"),
    ],
)
def test_invalid_settings_are_explained(environ, message):
    environ = {"EXTAGRAM_CONFIG": "/dev/null", **environ}
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_fail_fast_can_be_off_and_the_storage_cap_at_its_bounds():
    environ = {
        "EXTAGRAM_CONFIG": "/dev/null",
        "EXTAGRAM_DB_FAIL_FAST_SECONDS": "0",
        "EXTAGRAM_MAX_PHOTO_STORAGE_BYTES": str(16 * 1024**4),
    }
    config = load_config(environ=environ)
    assert (config.db_fail_fast_seconds, config.max_photo_storage_bytes) == (0, 16 * 1024**4)
    assert (
        load_config({"max_photo_storage_bytes": 1024**2}, environ=environ).max_photo_storage_bytes == 1024**2
    )


def test_file_errors_name_the_problem(tmp_path):
    unknown = write_toml(tmp_path, 'mode = "feed"\npage_sise = 5\n')
    with pytest.raises(ConfigError, match="unknown setting 'page_sise'"):
        load_config(environ={"EXTAGRAM_CONFIG": unknown})
    wrong_type = write_toml(tmp_path, 'db_port = "3306"\n')
    with pytest.raises(ConfigError, match="db_port must be of type int"):
        load_config(environ={"EXTAGRAM_CONFIG": wrong_type})
    broken = write_toml(tmp_path, "mode = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(environ={"EXTAGRAM_CONFIG": broken})


def test_create_app_requires_mode_user_secret_and_uploads_dir():
    secret = {"poster_proof_secret": "s" * 32}
    with pytest.raises(ConfigError, match=r"mode \(or env EXTAGRAM_MODE\)"):
        create_app({"db_user": "someone", **secret})
    with pytest.raises(ConfigError, match="poster_proof_secret"):
        create_app({"mode": "feed", "db_user": "someone"})
    with pytest.raises(ConfigError, match="uploads_dir"):
        create_app({"mode": "upload", "db_user": "someone", **secret})
    assert create_app({"mode": "feed", "db_user": "someone", **secret}) is not None
