"""Photo checks (by content, never by the client's name or type), re-encoding and naming."""

from __future__ import annotations

import io
import re
import secrets
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from extagram import errors
from extagram.errors import Rejected

# Decoders Pillow may try; anything else is refused without being parsed.
_OPENERS = ["JPEG", "PNG", "GIF", "WEBP"]
# Detected format -> (file extension, MIME type). The JPEG decoder reports the multi-picture
# JPEGs some cameras write as MPO; they are re-encoded as plain JPEGs.
_FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
_SAVE_FORMAT = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}

PHOTO_NAME = re.compile(r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)")

MAX_SIDE = 2048
# The largest picture accepted, width x height as users are told it (only the product counts).
# A 12 MP phone photo fits, and the worst JPEG or PNG of that size peaks at about 150 MiB while
# decoding. WebP needs 18-24 bytes a pixel against 7-12 (libwebp's canvases, the frame it hands
# Pillow, Pillow's picture; lossless files one more full-size buffer), so it gets 5 MP.
# Measured by tests/bench/upload_memory_bench.py; figures in docs/benchmark.md.
MAX_PIXEL_SIZE = (4096, 3072)
MAX_WEBP_PIXEL_SIZE = (2592, 1944)
MAX_PIXELS = MAX_PIXEL_SIZE[0] * MAX_PIXEL_SIZE[1]
MAX_WEBP_PIXELS = MAX_WEBP_PIXEL_SIZE[0] * MAX_WEBP_PIXEL_SIZE[1]
# Pillow refuses images over twice this and warns over it; the warning is turned into an error
# below and the pixel count is also checked explicitly, so nothing larger is ever decoded.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
TOO_MANY_PIXELS_MESSAGE = (
    f"The photo has too many pixels: at most {MAX_PIXELS:,} are accepted "
    f"({MAX_PIXEL_SIZE[0]} x {MAX_PIXEL_SIZE[1]}, a 12 MP photo), {MAX_WEBP_PIXELS:,} for a WebP "
    f"picture ({MAX_WEBP_PIXEL_SIZE[0]} x {MAX_WEBP_PIXEL_SIZE[1]}). Please choose a smaller photo."
)

# One photo at a time per process: each of a gthread worker's threads decoding its own
# full-size picture at once would multiply the peak memory of one upload.
_ONE_DECODE_AT_A_TIME = threading.Lock()
# How long an upload waits for that turn. Bounded, so a burst cannot hold every thread of a
# worker (and the health checks behind them) for minutes, and well below S1's upload timeout.
DECODE_WAIT_SECONDS = 10.0
BUSY_MESSAGE = "Extagram is busy with other photos right now. Please try again in a moment."


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    mime_type: str
    extension: str


def is_photo_name(name: str) -> bool:
    return PHOTO_NAME.fullmatch(name) is not None


def new_photo_name(extension: str) -> str:
    return f"{secrets.token_hex(16)}.{extension}"


def max_pixels(detected_format: str) -> int:
    return MAX_WEBP_PIXELS if detected_format == "WEBP" else MAX_PIXELS


def process_photo(raw: bytes) -> ProcessedPhoto:
    """Decode, shrink to MAX_SIDE, orient and re-encode, which drops EXIF/GPS and any payload."""
    if not _ONE_DECODE_AT_A_TIME.acquire(timeout=DECODE_WAIT_SECONDS):
        raise Rejected(503, BUSY_MESSAGE, errors.BUSY)
    try:
        # The filter is process-wide: the lock also keeps another upload from restoring it.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            small, detected_format = _decoded_small(raw)
        extension, mime_type = _FORMATS[detected_format]
        data = _reencode(small, extension)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Rejected(413, TOO_MANY_PIXELS_MESSAGE, errors.TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise Rejected(
            415,
            "This file is not a supported image. Please choose a JPEG, PNG, GIF or WebP photo.",
            errors.NOT_AN_IMAGE,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise Rejected(
            415, "This image is damaged or truncated. Please choose another photo.", errors.DAMAGED_IMAGE
        ) from None
    finally:
        _ONE_DECODE_AT_A_TIME.release()
    return ProcessedPhoto(data, mime_type, extension)


def _decoded_small(raw: bytes) -> tuple[Image.Image, str]:
    """The picture decoded and shrunk to at most MAX_SIDE a side, as a new image; its format.

    A function of its own so that the full-size picture is garbage once it returns: Pillow's
    close() leaves libwebp's canvases allocated until then, and re-encoding would add to them.
    """
    with Image.open(io.BytesIO(raw), formats=_OPENERS) as image:
        # From the header alone: nothing is decoded yet.
        if image.width * image.height > max_pixels(image.format):
            raise Image.DecompressionBombError("too many pixels")
        # Animated GIF/WebP keep only their first frame: bounded work per upload.
        size = _shrunk_size(image.size)
        # JPEG only (a no-op elsewhere): libjpeg decodes straight at 1/2, 1/4 or 1/8 scale when
        # that is still no smaller than `size`.
        image.draft(None, size)
        return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0), image.format


def _reencode(image: Image.Image, extension: str) -> bytes:
    # Oriented once small, which spares a second full-size copy. The shrink fitted a square box,
    # so an orientation that swaps width and height keeps the picture within MAX_SIDE.
    ImageOps.exif_transpose(image, in_place=True)
    image = _encodable(image, extension)
    # Keep transparency only; EXIF, XMP, comments and text chunks are not written.
    image.info = {key: image.info[key] for key in ("transparency",) if key in image.info}
    output = io.BytesIO()
    if extension in ("jpg", "webp"):
        image.save(output, _SAVE_FORMAT[extension], quality=85)
    else:
        image.save(output, _SAVE_FORMAT[extension])
    return output.getvalue()


def _shrunk_size(size: tuple[int, int]) -> tuple[int, int]:
    """`size` fitted into a MAX_SIDE square, keeping its proportions; never enlarged."""
    longest = max(size)
    if longest <= MAX_SIDE:
        return size
    width, height = size
    return max(1, width * MAX_SIDE // longest), max(1, height * MAX_SIDE // longest)


def _encodable(image: Image.Image, extension: str) -> Image.Image:
    """Convert to a pixel mode the target format can store (e.g. CMYK JPEG -> RGB)."""
    allowed = {
        "jpg": ("L", "RGB"),
        "png": ("1", "L", "LA", "P", "RGB", "RGBA"),
        "gif": ("L", "P"),
        "webp": ("RGB", "RGBA"),
    }[extension]
    if image.mode in allowed:
        return image
    if extension == "gif":
        return image.convert("P")
    if extension == "jpg":
        return image.convert("RGB")
    has_alpha = "A" in image.mode or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
