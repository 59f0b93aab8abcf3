"""The cap on stored photo bytes (max_photo_storage_bytes): exact, one row per upload, a 507 when full."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from app_helpers import assert_nothing_stored, publish

from extagram import photos
from extagram.migrations import available_migrations
from extagram_testing.sample_images import image_bytes

CAP = 1024 * 1024  # the smallest cap allowed
FULL_MESSAGE = "Extagram&#39;s photo storage is full. Posts without a photo still work."


def stored_bytes(db) -> int:
    [(value,)] = db.query("SELECT stored_bytes FROM photo_storage")
    return value


def set_stored_bytes(db, value: int) -> None:
    db.query("UPDATE photo_storage SET stored_bytes = %s", (value,))


def photo_sum(db) -> int:
    [(total,)] = db.query("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM photos")
    return total


@pytest.fixture
def photo() -> bytes:
    return image_bytes("PNG", size=(300, 200))


@pytest.fixture
def photo_size(photo) -> int:
    """What the photo takes once stored (re-encoded)."""
    return len(photos.process_photo(photo).data)


@pytest.fixture
def capped_client(make_app):
    return make_app(max_photo_storage_bytes=CAP).test_client()


def publish_photo(client, photo: bytes, text: str = "with a photo"):
    return publish(client, text, photo=photo, filename="p.png", content_type="image/png")


def test_a_photo_that_would_cross_the_cap_gets_507_and_stores_nothing(
    capped_client, db, uploads_dir, photo, photo_size
):
    set_stored_bytes(db, CAP - photo_size + 1)
    response = publish_photo(capped_client, photo)
    html = response.get_data(as_text=True)
    assert response.status_code == 507
    assert "Storage full" in html and FULL_MESSAGE in html
    assert_nothing_stored(db, uploads_dir)
    assert stored_bytes(db) == CAP - photo_size + 1


def test_a_photo_that_fills_the_cap_exactly_is_stored(capped_client, db, uploads_dir, photo, photo_size):
    set_stored_bytes(db, CAP - photo_size)
    assert publish_photo(capped_client, photo).status_code == 303
    assert stored_bytes(db) == CAP
    assert db.count("photos") == 1 and len(list(uploads_dir.iterdir())) == 1
    assert publish_photo(capped_client, photo, "one more").status_code == 507
    assert stored_bytes(db) == CAP and db.count("posts") == 1


def test_a_text_only_post_still_works_when_full(capped_client, db, photo):
    set_stored_bytes(db, CAP)
    assert publish_photo(capped_client, photo).status_code == 507
    response = publish(capped_client, "words only")
    assert response.status_code == 303
    assert [row[1:] for row in db.posts()] == [("words only", None)]
    assert stored_bytes(db) == CAP


def test_the_counter_is_the_sum_of_the_stored_photos(client, db):
    for fmt, filename in [("JPEG", "a.jpg"), ("PNG", "b.png"), ("GIF", "c.gif"), ("WEBP", "d.webp")]:
        response = publish(client, fmt, photo=image_bytes(fmt, size=(120, 90)), filename=filename)
        assert response.status_code == 303
    publish(client, "no photo")
    assert db.count("photos") == 4
    assert stored_bytes(db) == photo_sum(db) > 0


def test_concurrent_uploads_never_cross_the_cap(make_app, db, uploads_dir, photo, photo_size):
    # Room for exactly two of the four photos sent at once.
    set_stored_bytes(db, CAP - 2 * photo_size)
    app = make_app(max_photo_storage_bytes=CAP)
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: publish_photo(app.test_client(), photo).status_code, range(4)))
    assert statuses == [303, 303, 507, 507]
    assert stored_bytes(db) == CAP
    assert photo_sum(db) == 2 * photo_size and len(list(uploads_dir.iterdir())) == 2


@pytest.fixture
def scratch_database(db):
    name = "extagram_photo_storage_migration"
    db.query(f"CREATE DATABASE {name}")
    yield name
    db.query(f"DROP DATABASE {name}")


def test_the_migration_counts_the_photos_stored_before_it(db, scratch_database):
    create_tables, create_photo_storage = available_migrations()[:2]
    assert create_photo_storage.version == "0002_create_photo_storage"
    with db.server.root_connection(scratch_database) as connection, connection.cursor() as cursor:
        for statement in create_tables.statements():
            cursor.execute(statement)
        cursor.executemany(
            "INSERT INTO photos (name, mime_type, data) VALUES (%s, 'image/png', %s)",
            [(f"{number:032x}.png", b"x" * 1000 * number) for number in range(1, 4)],
        )
        for statement in create_photo_storage.statements():
            cursor.execute(statement)
        cursor.execute("SELECT id, stored_bytes FROM photo_storage")
        assert cursor.fetchall() == ((1, 6000),)


def test_the_migration_starts_an_empty_database_at_zero(db, scratch_database):
    with db.server.root_connection(scratch_database) as connection, connection.cursor() as cursor:
        for migration in available_migrations()[:2]:
            for statement in migration.statements():
                cursor.execute(statement)
        cursor.execute("SELECT id, stored_bytes FROM photo_storage")
        assert cursor.fetchall() == ((1, 0),)
