"""Copies of photos in uploads_dir, written atomically and never allowed to block a request.

The database is the source of truth; these files only let the media nodes serve photos as
static files. A missing, read-only or hung directory must not fail or stall an upload.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)

# Writers stuck on a hung directory stay alive as daemon threads; past this many, new writes
# are skipped so a long outage cannot pile up threads.
MAX_PENDING_WRITES = 16
_pending_writes = threading.BoundedSemaphore(MAX_PENDING_WRITES)


def write_photo_file(directory: str, name: str, data: bytes, timeout: float) -> bool:
    """Write `directory/name` in a daemon thread, waiting at most `timeout` seconds.

    Returns True when the file is in place; failures are logged as warnings.
    """
    if not _pending_writes.acquire(blocking=False):
        log.warning(
            "photo %s not written: %d writes to %s still pending", name, MAX_PENDING_WRITES, directory
        )
        return False
    finished = threading.Event()
    outcome = {"written": False}

    def write() -> None:
        try:
            _write_atomically(directory, name, data)
            outcome["written"] = True
        except OSError as error:
            log.warning("photo %s not written to %s: %s", name, directory, error)
        finally:
            _pending_writes.release()
            finished.set()

    threading.Thread(target=write, name=f"write-{name}", daemon=True).start()
    if not finished.wait(timeout):
        log.warning(
            "photo %s not written to %s within %ss; left to finish in background", name, directory, timeout
        )
        return False
    return outcome["written"]


def _write_atomically(directory: str, name: str, data: bytes) -> None:
    # Readers (nginx on the media nodes) see either no file or the complete file.
    final_path = os.path.join(directory, name)
    temp_path = os.path.join(directory, f".{name}.tmp")
    descriptor = os.open(
        temp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable.
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
