"""Bounded memory per upload: pixel limits from the header, JPEG drafts, one decode at a time."""

from __future__ import annotations

import io
import threading
import time

import pytest
from app_helpers import assert_nothing_stored, publish
from PIL import Image, ImageFile

from extagram import photos
from extagram_testing.sample_images import image_bytes, open_image, png_bytes

TOO_MANY_PIXELS = "The photo has too many pixels: at most 12,582,912 are accepted (4096 x 3072"


def taller_by_one(size: tuple[int, int]) -> tuple[int, int]:
    return size[0], size[1] + 1


@pytest.mark.parametrize(
    "photo",
    [
        # One-bit grey: a valid PNG of 12.6 MP that zlib makes in a few milliseconds.
        png_bytes(taller_by_one(photos.MAX_PIXEL_SIZE), color_type=0, bit_depth=1),
        image_bytes("WEBP", size=taller_by_one(photos.MAX_WEBP_PIXEL_SIZE)),
    ],
    ids=["png", "webp"],
)
def test_a_picture_one_row_over_its_limit_is_refused_without_being_decoded(
    client, db, uploads_dir, monkeypatch, photo
):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size))
    response = publish(client, "too big", photo=photo, filename="big.png")
    html = response.get_data(as_text=True)
    assert response.status_code == 413, html
    assert TOO_MANY_PIXELS in html
    assert decoded == []
    assert_nothing_stored(db, uploads_dir)


@pytest.mark.parametrize(
    ("fmt", "size"),
    [("JPEG", photos.MAX_PIXEL_SIZE), ("PNG", photos.MAX_PIXEL_SIZE), ("WEBP", photos.MAX_WEBP_PIXEL_SIZE)],
)
def test_a_picture_exactly_at_its_limit_is_accepted(client, db, fmt, size):
    assert publish(client, "just fits", photo=image_bytes(fmt, size=size)).status_code == 303
    [(_mime, data)] = db.photos().values()
    assert max(open_image(data).size) == photos.MAX_SIDE


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    resized_from = []
    original_resize = Image.Image.resize

    def recording_resize(image, size, *args, **kwargs):
        resized_from.append(image.size)
        return original_resize(image, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)
    photo = photos.process_photo(image_bytes("JPEG", size=(4096, 3072)))
    assert resized_from[0] == (2048, 1536)  # libjpeg's 1/2 scale, not the 4096 x 3072 original
    assert open_image(photo.data).size == (2048, 1536)


def halves_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    """Left half red, right half blue, with an EXIF orientation tag."""
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    output = io.BytesIO()
    image.save(output, "JPEG", exif=exif)
    return output.getvalue()


@pytest.mark.parametrize(
    ("orientation", "stored_size", "red_at"),
    [
        (1, (2048, 1024), "left"),
        (3, (2048, 1024), "right"),  # rotated 180 degrees
        (6, (1024, 2048), "top"),  # 90 degrees clockwise: width and height swap
        (8, (1024, 2048), "bottom"),  # 90 degrees counter-clockwise
    ],
)
def test_orientation_is_applied_after_the_shrink(orientation, stored_size, red_at):
    photo = photos.process_photo(halves_jpeg((4096, 2048), orientation))
    stored = open_image(photo.data)
    assert stored.size == stored_size
    width, height = stored_size
    probe = {
        "left": (width // 4, height // 2),
        "right": (3 * width // 4, height // 2),
        "top": (width // 2, height // 4),
        "bottom": (width // 2, 3 * height // 4),
    }[red_at]
    red, _green, blue = stored.getpixel(probe)
    assert red > 200 and blue < 50, f"expected red at the {red_at}, got {stored.getpixel(probe)}"


def test_concurrent_uploads_are_decoded_one_at_a_time(monkeypatch):
    inside, most_inside = 0, 0
    counting = threading.Lock()
    original = photos._decoded_small

    def slow_decode(raw):
        nonlocal inside, most_inside
        with counting:
            inside += 1
            most_inside = max(most_inside, inside)
        time.sleep(0.2)  # long enough for the other thread to arrive if nothing stops it
        with counting:
            inside -= 1
        return original(raw)

    monkeypatch.setattr(photos, "_decoded_small", slow_decode)
    start_together = threading.Barrier(2)
    results = []

    def upload() -> None:
        start_together.wait()
        results.append(photos.process_photo(image_bytes("PNG")))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [photo.extension for photo in results] == ["png", "png"]
    assert most_inside == 1


def test_an_upload_waits_a_bounded_time_for_its_turn_then_gets_a_busy_page(
    client, db, uploads_dir, monkeypatch
):
    monkeypatch.setattr(photos, "DECODE_WAIT_SECONDS", 0.3)
    with photos._ONE_DECODE_AT_A_TIME:  # another upload is decoding
        started = time.monotonic()
        response = publish(client, "waits", photo=image_bytes("PNG"), filename="wait.png")
        waited = time.monotonic() - started
    assert response.status_code == 503 and photos.BUSY_MESSAGE in response.get_data(as_text=True)
    assert 0.3 <= waited < 2
    assert_nothing_stored(db, uploads_dir)
    assert publish(client, "its turn", photo=image_bytes("PNG"), filename="turn.png").status_code == 303
