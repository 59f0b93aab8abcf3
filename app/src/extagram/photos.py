"""Photo checks (by content, never by the client's name or type), re-encoding and naming."""

from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

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
MAX_PIXELS = 40_000_000
# Pillow refuses images over twice this and warns over it; the warning is turned into an error
# below and the pixel count is also checked explicitly, so nothing larger is ever decoded.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    mime_type: str
    extension: str


def is_photo_name(name: str) -> bool:
    return PHOTO_NAME.fullmatch(name) is not None


def new_photo_name(extension: str) -> str:
    return f"{secrets.token_hex(16)}.{extension}"


def process_photo(raw: bytes) -> ProcessedPhoto:
    """Decode, orient, shrink to MAX_SIDE and re-encode, which drops EXIF/GPS and any payload."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=_OPENERS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                extension, mime_type = _FORMATS[image.format]
                image.load()
                data = _reencode(image, extension)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Rejected(413, f"The photo has too many pixels (at most {MAX_PIXELS:,} are accepted).") from None
    except UnidentifiedImageError:
        raise Rejected(
            415, "This file is not a supported image. Please choose a JPEG, PNG, GIF or WebP photo."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise Rejected(415, "This image is damaged or truncated. Please choose another photo.") from None
    return ProcessedPhoto(data, mime_type, extension)


def _reencode(image: Image.Image, extension: str) -> bytes:
    # Animated GIF/WebP keep only their first frame: bounded work per upload.
    image = ImageOps.exif_transpose(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    image = _encodable(image, extension)
    # Keep transparency only; EXIF, XMP, comments and text chunks are not written.
    image.info = {key: image.info[key] for key in ("transparency",) if key in image.info}
    output = io.BytesIO()
    if extension in ("jpg", "webp"):
        image.save(output, _SAVE_FORMAT[extension], quality=85)
    else:
        image.save(output, _SAVE_FORMAT[extension])
    return output.getvalue()


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
