"""Errors that end a request with a message meant for the user."""

# Why an upload was refused: the `reason` label of extagram_uploads_refused_total (metrics.py).
# A fixed set, so the label never takes a value from the request.
TOO_LARGE = "too_large"
TOO_MANY_PIXELS = "too_many_pixels"
NOT_AN_IMAGE = "not_an_image"
DAMAGED_IMAGE = "damaged_image"
NO_TEXT = "no_text"
TEXT_TOO_LONG = "text_too_long"
CROSS_SITE = "cross_site"
BUSY = "busy"
STORAGE_FULL = "storage_full"
DATABASE_DOWN = "database_down"
# Anything else: a request the app could not understand, or a bug (500).
OTHER = "other"
REFUSAL_REASONS = (
    TOO_LARGE,
    TOO_MANY_PIXELS,
    NOT_AN_IMAGE,
    DAMAGED_IMAGE,
    NO_TEXT,
    TEXT_TOO_LONG,
    CROSS_SITE,
    BUSY,
    STORAGE_FULL,
    DATABASE_DOWN,
    OTHER,
)


class Rejected(Exception):
    """The client sent something we refuse; `message` is shown to the user as is, `reason` is
    one of REFUSAL_REASONS (what the metrics count)."""

    def __init__(self, status: int, message: str, reason: str = OTHER):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason if reason in REFUSAL_REASONS else OTHER


def upload_too_large_message(limit_bytes: int) -> str:
    if limit_bytes >= 1024 * 1024:
        limit = f"{limit_bytes / 1024 / 1024:.3g} MiB"
    else:
        limit = f"{limit_bytes / 1024:.3g} KiB"
    return f"The upload is too large. Photos can be at most {limit}."
