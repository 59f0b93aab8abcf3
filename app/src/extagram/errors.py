"""Errors that end a request with a message meant for the user."""


class Rejected(Exception):
    """The client sent something we refuse; `message` is shown to the user as is."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def upload_too_large_message(limit_bytes: int) -> str:
    if limit_bytes >= 1024 * 1024:
        limit = f"{limit_bytes / 1024 / 1024:.3g} MiB"
    else:
        limit = f"{limit_bytes / 1024:.3g} KiB"
    return f"The upload is too large. Photos can be at most {limit}."
