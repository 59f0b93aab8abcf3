"""The `extagram` command: `db upgrade`, `media resync`."""

from __future__ import annotations

import argparse
import sys

import pymysql

from extagram import db
from extagram.config import ConfigError, load_config
from extagram.migrations import MigrationError, upgrade
from extagram.resync import resync_photos


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except ConfigError as error:
        print(f"extagram: configuration error: {error}", file=sys.stderr)
        return 2
    except (pymysql.Error, MigrationError) as error:
        print(f"extagram: database error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extagram",
        description="Extagram maintenance commands. Settings come from the TOML file named by "
        "EXTAGRAM_CONFIG and EXTAGRAM_<KEY> environment variables.",
    )
    groups = parser.add_subparsers(required=True, metavar="{db,media}")

    db_group = groups.add_parser("db", help="database schema").add_subparsers(required=True)
    db_group.add_parser("upgrade", help="apply pending migrations").set_defaults(command=_db_upgrade)

    media_group = groups.add_parser("media", help="photo files").add_subparsers(required=True)
    media_group.add_parser("resync", help="write photos the database has and uploads_dir lacks").set_defaults(
        command=_media_resync
    )
    return parser


def _db_upgrade(_args: argparse.Namespace) -> int:
    config = load_config()
    config.require("db_user")
    connection = db.connect(config, autocommit=True)
    try:
        applied = upgrade(connection)
    finally:
        connection.close()
    print(f"applied {len(applied)} migration(s)")
    return 0


def _media_resync(_args: argparse.Namespace) -> int:
    config = load_config()
    config.require("db_user", "uploads_dir")
    connection = db.connect(config, autocommit=True)
    try:
        report = resync_photos(connection, config.uploads_dir, config.uploads_write_timeout)
    finally:
        connection.close()
    print(report)
    return 1 if report.failed else 0
