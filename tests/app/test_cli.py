"""The `extagram` console script: migrations and media resync, against the real database."""

from __future__ import annotations

from app_helpers import expected_migration_count, publish

from extagram.resync import resync_photos
from extagram_testing.mariadb_server import extagram_command, free_port, settings_env
from extagram_testing.sample_images import image_bytes


def run_cli(db, role: str, *args: str, **settings):
    return extagram_command(*args, env=settings_env(db.settings(role, **settings)))


def test_first_upgrade_applied_every_migration(db):
    assert db.first_migration_output == f"applied {expected_migration_count()} migration(s)"
    versions = [row[0] for row in db.query("SELECT version FROM schema_migrations")]
    assert len(versions) == expected_migration_count()


def test_second_upgrade_applies_nothing(db):
    result = run_cli(db, "migrate", "db", "upgrade")
    assert (result.returncode, result.stdout) == (0, "applied 0 migration(s)\n")


def test_upgrade_reports_an_unreachable_database_without_traceback(db):
    result = run_cli(db, "migrate", "db", "upgrade", db_port=free_port())
    assert result.returncode == 1
    assert result.stderr.startswith("extagram: database error:")
    assert "Traceback" not in result.stderr


def test_upgrade_explains_bad_configuration(db):
    result = run_cli(db, "migrate", "db", "upgrade", db_port="not-a-port")
    assert result.returncode == 2
    assert "db_port must be an integer" in result.stderr


def test_resync_writes_only_the_missing_photos(client, db, uploads_dir):
    for index in range(3):
        photo = image_bytes("PNG", color=(index * 80, 0, 0))
        assert publish(client, f"photo {index}", photo=photo, filename="p.png").status_code == 303
    stored = db.photos()
    deleted = sorted(stored)[:2]
    for name in deleted:
        (uploads_dir / name).unlink()

    result = run_cli(db, "feed", "media", "resync", uploads_dir=str(uploads_dir))
    assert (result.returncode, result.stdout) == (0, "written 2, already present 1, failed 0\n")
    for name, (_mime, data) in stored.items():
        assert (uploads_dir / name).read_bytes() == data
    assert sorted(path.name for path in uploads_dir.iterdir()) == sorted(stored)

    again = run_cli(db, "feed", "media", "resync", uploads_dir=str(uploads_dir))
    assert again.stdout == "written 0, already present 3, failed 0\n"


def test_resync_counts_failures(client, db, tmp_path):
    assert publish(client, "p", photo=image_bytes("GIF"), filename="p.gif").status_code == 303
    result = run_cli(db, "feed", "media", "resync", uploads_dir=str(tmp_path / "missing"))
    assert result.returncode == 1
    assert result.stdout == "written 0, already present 0, failed 1\n"


def test_resync_walks_the_table_in_batches(client, db, uploads_dir):
    for index in range(5):
        photo = image_bytes("PNG", color=(0, index * 50, 0))
        assert publish(client, f"photo {index}", photo=photo, filename="p.png").status_code == 303
    for path in list(uploads_dir.iterdir())[:3]:
        path.unlink()
    with db.server.connection(db.accounts["feed"]) as connection:
        report = resync_photos(connection, str(uploads_dir), write_timeout=2, batch_size=2)
    assert (report.written, report.already_present, report.failed) == (3, 2, 0)
    assert len(list(uploads_dir.iterdir())) == 5
