"""Images made with Pillow for the tests and the benchmark."""

from __future__ import annotations

import io
import os

from PIL import Image


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color="teal", mode: str = "RGB", **save_options
) -> bytes:
    output = io.BytesIO()
    Image.new(mode, size, color).save(output, fmt, **save_options)
    return output.getvalue()


def noise_jpeg(size: tuple[int, int], quality: int = 90) -> bytes:
    """Random pixels barely compress, so the byte size is predictable from the dimensions."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    output = io.BytesIO()
    image.save(output, "JPEG", quality=quality)
    return output.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    gps = exif.get_ifd(0x8825)  # GPSInfo
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (41.0, 23.0, 12.5)  # GPSLatitude
    gps[3] = "E"  # GPSLongitudeRef
    gps[4] = (2.0, 10.0, 30.0)  # GPSLongitude
    return image_bytes("JPEG", size=(80, 40), exif=exif)


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
