"""The bad-input corpus of docs/security.md: files built to cost memory or smuggle data."""

from __future__ import annotations

import io
import os
import struct

import pytest
from app_helpers import assert_nothing_stored, publish
from PIL import Image

from extagram_testing.sample_images import image_bytes, open_image

# Far over every pixel limit, yet each file is a few hundred bytes: only its header says so.
HUGE_SIDE = 30000


def jpeg_claiming(side: int) -> bytes:
    """A real 16x16 JPEG whose frame header (SOF0) claims side x side pixels."""
    data = bytearray(image_bytes("JPEG", size=(16, 16)))
    frame = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, side, side)  # height, then width
    return bytes(data)


def gif_claiming(side: int) -> bytes:
    """A real 16x16 GIF whose logical screen claims side x side pixels (16 bits: at most 65535)."""
    data = bytearray(image_bytes("GIF", size=(16, 16)))
    struct.pack_into("<HH", data, 6, side, side)
    return bytes(data)


def webp_claiming(side: int) -> bytes:
    """A real 16x16 lossless WebP whose VP8X header claims side x side pixels (24 bits each)."""
    canvas = (side - 1).to_bytes(3, "little") * 2
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    frame = image_bytes("WEBP", size=(16, 16), lossless=True)[12:]  # the VP8L chunk
    body = b"WEBP" + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("photo", "filename"),
    [
        (jpeg_claiming(HUGE_SIDE), "bomb.jpg"),
        (gif_claiming(HUGE_SIDE), "bomb.gif"),
        (webp_claiming(HUGE_SIDE), "bomb.webp"),
    ],
    ids=["jpeg", "gif", "webp"],
)
def test_a_header_claiming_a_huge_picture_is_refused_and_stores_nothing(
    client, db, uploads_dir, photo, filename
):
    assert len(photo) < 4096
    response = publish(client, "bomb", photo=photo, filename=filename)
    assert response.status_code == 413, response.get_data(as_text=True)
    assert "too many pixels" in response.get_data(as_text=True)
    assert_nothing_stored(db, uploads_dir)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_a_huge_exif_block_is_not_kept(client, db, fmt):
    exif = Image.Exif()
    exif[0x010E] = "x" * (4 * 1024 * 1024)  # ImageDescription: a valid EXIF block of 4 MiB
    photo = image_bytes(fmt, exif=exif.tobytes())
    assert len(photo) > 4 * 1024 * 1024
    response = publish(client, "huge exif", photo=photo, filename="meta.img")
    assert response.status_code == 303
    [(_mime, stored)] = db.photos().values()
    assert len(stored) < 64 * 1024 and "exif" not in open_image(stored).info


def test_an_icc_profile_is_not_kept(client, db):
    profile = os.urandom(512 * 1024)  # random: incompressible, so the file really carries it
    response = publish(client, "icc", photo=image_bytes("PNG", icc_profile=profile), filename="icc.png")
    assert response.status_code == 303
    [(_mime, stored)] = db.photos().values()
    assert len(stored) < 64 * 1024 and "icc_profile" not in open_image(stored).info


def test_an_icc_profile_over_what_pillow_inflates_is_refused_and_stores_nothing(client, db, uploads_dir):
    # Pillow inflates a PNG's compressed profile up to 1 MiB (PngImagePlugin.MAX_TEXT_CHUNK) and
    # treats anything larger as a broken file, so inflating it cannot cost more than that.
    photo = image_bytes("PNG", icc_profile=os.urandom(4 * 1024 * 1024))
    response = publish(client, "icc bomb", photo=photo, filename="icc.png")
    assert response.status_code == 415 and "damaged" in response.get_data(as_text=True)
    assert_nothing_stored(db, uploads_dir)


def test_a_multipart_form_of_a_thousand_parts_is_refused_and_stores_nothing(client, db, uploads_dir):
    # Werkzeug parses at most 1,000 parts of a multipart form (the photo makes it multipart).
    fields = {f"field{index}": "x" for index in range(1000)}
    photo = (io.BytesIO(image_bytes("PNG")), "photo.png", "image/png")
    response = client.post("/upload", data={"post": "many parts", "photo": photo, **fields})
    assert response.status_code == 413 and "text/html" in response.content_type
    assert_nothing_stored(db, uploads_dir)


def test_a_urlencoded_form_of_a_thousand_fields_is_bounded_by_the_body_limit(client, db):
    # No part count applies without multipart: the body limit does, and the extra fields are ignored.
    fields = {f"field{index}": "x" for index in range(1000)}
    response = client.post("/upload", data={"post": "many fields", **fields})
    assert response.status_code == 303
    assert [text for _id, text, _photo in db.posts()] == ["many fields"]
