"""Publishing: accepted posts and photos, and every kind of rejected input."""

from __future__ import annotations

import io
import re

import pytest
from app_helpers import assert_nothing_stored, publish
from PIL import Image

from extagram_testing.sample_images import image_bytes, jpeg_with_gps, noise_jpeg, open_image

PHOTO_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|gif|webp)")


def test_text_only_post(client, db, uploads_dir):
    response = publish(client, "  just words \n")
    assert response.status_code == 303
    [(post_id, text, photo)] = db.posts()
    assert re.fullmatch(rf"/\?posted={post_id}\.[0-9]{{10}}\.[0-9a-f]{{32}}", response.headers["Location"])
    assert (text, photo) == ("just words", None)
    assert db.count("photos") == 0
    assert list(uploads_dir.iterdir()) == []


@pytest.mark.parametrize("path", ["/upload", "/upload.php"])
def test_post_with_photo_is_stored_in_db_and_on_disk(client, db, uploads_dir, path):
    response = publish(client, "with photo", photo=image_bytes("JPEG"), filename="../../evil.php", path=path)
    assert response.status_code == 303
    [(_post_id, text, name)] = db.posts()
    assert text == "with photo"
    assert PHOTO_NAME.fullmatch(name) and name.endswith(".jpg")
    mime, data = db.photos()[name]
    assert mime == "image/jpeg"
    assert (uploads_dir / name).read_bytes() == data
    assert [path.name for path in uploads_dir.iterdir()] == [name]  # no temp file left
    assert f"/storage/{name}" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fmt", "options", "stored_as"),
    [
        ("JPEG", {}, ("jpg", "image/jpeg")),
        ("PNG", {}, ("png", "image/png")),
        ("GIF", {}, ("gif", "image/gif")),
        ("WEBP", {}, ("webp", "image/webp")),
        ("PNG", {"mode": "RGBA", "color": (255, 0, 0, 128)}, ("png", "image/png")),
    ],
)
def test_each_format_is_detected_by_content(client, db, fmt, options, stored_as):
    extension, mime = stored_as
    # The client's filename and type are deliberately wrong: only the bytes count.
    photo = image_bytes(fmt, **options)
    assert publish(client, fmt, photo=photo, filename="x.txt", content_type="text/plain").status_code == 303
    [(name, (stored_mime, data))] = db.photos().items()
    assert name.endswith("." + extension) and stored_mime == mime
    assert open_image(data).format == fmt


def test_exif_and_gps_are_stripped_and_orientation_applied(client, db):
    original = jpeg_with_gps()
    assert open_image(original).getexif().get_ifd(0x8825)  # the sample really has GPS data
    assert publish(client, "where am I", photo=original).status_code == 303
    [(_mime, data)] = db.photos().values()
    stored = open_image(data)
    assert dict(stored.getexif()) == {}
    assert b"Exif" not in data and b"SpyCam" not in data
    assert stored.size == (40, 80)  # rotated as the orientation tag asked, then dropped


def test_large_photos_are_capped_at_2048_pixels(client, db):
    photo = image_bytes("JPEG", size=(4000, 1000))
    assert publish(client, "panorama", photo=photo).status_code == 303
    [(_mime, data)] = db.photos().values()
    assert open_image(data).size == (2048, 512)


def test_animated_gif_keeps_its_first_frame(client, db):
    frames = [Image.new("P", (20, 20), index) for index in range(3)]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert publish(client, "gif", photo=output.getvalue()).status_code == 303
    [(_mime, data)] = db.photos().values()
    assert getattr(open_image(data), "n_frames", 1) == 1


def test_payload_hidden_in_a_valid_image_is_dropped_by_reencoding(client, db):
    payload = b"<?php system($_GET['cmd']); ?>"
    polyglot = image_bytes("GIF") + payload
    assert publish(client, "polyglot", photo=polyglot, filename="shell.php.gif").status_code == 303
    [(name, (_mime, data))] = db.photos().items()
    assert name.endswith(".gif") and payload not in data


def test_empty_file_part_means_no_photo(client, db):
    # What a browser sends when the picker was left empty.
    assert publish(client, "no photo chosen", photo=b"", filename="").status_code == 303
    assert db.posts()[0][2] is None


def test_text_of_exactly_the_maximum_length_is_accepted(make_app, db):
    client = make_app(max_text_length=20).test_client()
    assert publish(client, "é" * 20).status_code == 303
    assert db.posts()[0][1] == "é" * 20


def rejected_html(response, status: int, message: str) -> str:
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert response.content_type.startswith("text/html")
    assert message in html
    assert "Traceback" not in html
    assert response.headers["X-Served-By"]
    return html


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Please write some text"),
        ("   \t\n  ", "Please write some text"),
        (None, "Please write some text"),
        ("x" * 1001, "The text is too long: at most 1000 characters, you sent 1001"),
    ],
)
def test_bad_text_is_rejected_and_nothing_stored(client, db, uploads_dir, text, message):
    response = publish(client, text, photo=image_bytes("PNG"), filename="ok.png")
    rejected_html(response, 400, message)
    assert_nothing_stored(db, uploads_dir)


def test_multipart_without_any_field_is_rejected(client, db, uploads_dir):
    response = client.post("/upload", data={}, content_type="multipart/form-data")
    rejected_html(response, 400, "Please write some text")
    response = client.post("/upload", data=b"", content_type="multipart/form-data; boundary=x")
    rejected_html(response, 400, "Please write some text")
    assert_nothing_stored(db, uploads_dir)


NOT_AN_IMAGE = "not a supported image"
DAMAGED = "damaged or truncated"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"just some text, not a picture\n" * 10, NOT_AN_IMAGE),
        (b"<!doctype html><html><body><script>alert(1)</script></body></html>", NOT_AN_IMAGE),
        (b"<?php system($_GET['cmd']); ?>", NOT_AN_IMAGE),
        (b"GIF89a<?php system($_GET['cmd']); ?>", NOT_AN_IMAGE),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", NOT_AN_IMAGE),
        (image_bytes("BMP"), NOT_AN_IMAGE),
        (image_bytes("TIFF"), NOT_AN_IMAGE),
        (noise_jpeg((200, 200))[:3000], DAMAGED),
        (image_bytes("PNG", size=(300, 300), color="red")[:-40], DAMAGED),
    ],
    ids=[
        "text",
        "html-as-jpg",
        "php-as-jpg",
        "php-in-gif-header",
        "pdf",
        "bmp",
        "tiff",
        "truncated-jpeg",
        "truncated-png",
    ],
)
def test_non_images_are_rejected_with_415_and_nothing_stored(client, db, uploads_dir, payload, message):
    response = publish(client, "sneaky", photo=payload, filename="cat.jpg")
    rejected_html(response, 415, message)
    assert_nothing_stored(db, uploads_dir)


def test_twenty_mib_upload_is_rejected_with_413(client, db, uploads_dir):
    response = publish(client, "huge", photo=b"\xff" * (20 * 1024 * 1024))
    rejected_html(response, 413, "Photos can be at most 10 MiB")
    assert_nothing_stored(db, uploads_dir)


def test_photo_just_over_the_limit_is_rejected_with_413(make_app, db, uploads_dir):
    client = make_app(max_upload_bytes=100_000).test_client()
    photo = noise_jpeg((400, 400))
    assert len(photo) > 100_000
    response = publish(client, "slightly too big", photo=photo)
    rejected_html(response, 413, "Photos can be at most 97.7 KiB")
    assert_nothing_stored(db, uploads_dir)


@pytest.mark.parametrize("size", [(7000, 7000), (12000, 12000)], ids=["over-limit", "bomb"])
def test_decompression_bombs_are_rejected(client, db, uploads_dir, size):
    bomb = image_bytes("PNG", size=size, mode="1", color=0)
    assert len(bomb) < 1024 * 1024
    response = publish(client, "bomb", photo=bomb, filename="bomb.png")
    rejected_html(response, 413, "too many pixels")
    assert_nothing_stored(db, uploads_dir)


def test_photo_that_grows_when_reencoded_is_rejected(make_app, db, uploads_dir):
    client = make_app(max_upload_bytes=30_000).test_client()
    photo = noise_jpeg((300, 300), quality=20)  # small on the wire, larger at quality 85
    assert len(photo) < 30_000
    response = publish(client, "grows", photo=photo)
    rejected_html(response, 413, "Photos can be at most 29.3 KiB")
    assert_nothing_stored(db, uploads_dir)
