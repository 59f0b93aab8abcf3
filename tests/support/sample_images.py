"""Images made with Pillow for the tests and the benchmark."""

from __future__ import annotations

import io
import math
import os
import struct
import zlib

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> samples per pixel (grey, RGB, grey+alpha, RGBA).
PNG_SAMPLES = {0: 1, 2: 3, 4: 2, 6: 4}
# Adam7's passes: (first column, first row, column step, row step).
ADAM7_PASSES = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]


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


def smooth_photo(size: tuple[int, int], mode: str = "RGB", noisy_rows: int = 0) -> Image.Image:
    """Soft random colour fields, which compress like a photo; `noisy_rows` rows of noise at
    the top make the file as large as wanted."""
    seed = Image.frombytes("RGB", (16, 12), os.urandom(16 * 12 * 3))
    image = seed.resize(size, Image.Resampling.BICUBIC)
    if noisy_rows:
        band = (size[0], noisy_rows)
        image.paste(Image.frombytes("RGB", band, os.urandom(band[0] * band[1] * 3)))
    return image.convert(mode)


def png_bytes(
    size: tuple[int, int], color_type: int = 6, bit_depth: int = 16, interlaced: bool = False
) -> bytes:
    """A PNG written by hand, as Pillow cannot write 16-bit colour or interlaced (Adam7) PNGs.

    Every row of a pass repeats the first (the Up filter makes them zeros), so even a huge
    image compresses to little: a decoder still needs the full-size buffers.
    """
    width, height = size
    bits_per_pixel = PNG_SAMPLES[color_type] * bit_depth
    raw = bytearray()
    for first_x, first_y, step_x, step_y in ADAM7_PASSES if interlaced else [(0, 0, 1, 1)]:
        pass_width = math.ceil(max(width - first_x, 0) / step_x)
        pass_height = math.ceil(max(height - first_y, 0) / step_y)
        if pass_width and pass_height:
            row_bytes = math.ceil(pass_width * bits_per_pixel / 8)
            raw += b"\0" + bytes(index * 7 % 256 for index in range(row_bytes))
            raw += (b"\2" + bytes(row_bytes)) * (pass_height - 1)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, int(interlaced))
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND")
    )


def _png_chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


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
