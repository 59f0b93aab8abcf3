"""prometheus_client's multiprocess files, shared by Gunicorn's workers (no Flask here).

With PROMETHEUS_MULTIPROC_DIR set (the unit's RuntimeDirectory, empty at each start), every
worker keeps its counters and histograms in files of its own there, and a scrape adds up the
files of every worker, alive or not: a count survives its worker. Gunicorn replaces a worker
every `max_requests` requests, so the files of dead workers would pile up, and each scrape
would read more of them. When a worker ends, the master (Gunicorn's child_exit hook, set in
gunicorn.conf.py) adds its values into one file per kind, `<kind>_archive.db`, and removes its
files: the directory holds the live workers' files and the archive, however long it runs.

A scrape must not see a dead worker's values twice (in its file and in the archive) or not at
all (removed, not yet added): either looks like a counter going back, which Prometheus takes
for a restart. So the fold holds an exclusive lock on a file beside them, and a scrape a shared
one while it reads.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Kinds whose values add up across processes; a gauge's file keeps its process id.
SUMMED_KINDS = ("counter", "histogram", "summary")
ARCHIVE = "archive"
# Not *.db: the collector reads only those.
_LOCK_FILE = "fold.lock"


def directory() -> str | None:
    """The multiprocess directory, or None when this process counts alone (development)."""
    return os.environ.get(DIRECTORY_VARIABLE) or None


@contextmanager
def _locked(path: str, operation: int) -> Iterator[None]:
    descriptor = os.open(os.path.join(path, _LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, operation)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextmanager
def reading(path: str) -> Iterator[None]:
    """Hold while a scrape reads the files: no fold changes them meanwhile."""
    with _locked(path, fcntl.LOCK_SH):
        yield


def fold_dead_process(path: str, pid: int) -> None:
    """Add the ended process's counters and histograms into the archive, then remove its files."""
    multiprocess.mark_process_dead(pid, path)  # its live gauges, if any
    with _locked(path, fcntl.LOCK_EX):
        for kind in SUMMED_KINDS:
            dead = os.path.join(path, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = MmapedDict(os.path.join(path, f"{kind}_{ARCHIVE}.db"))
            try:
                for key, value, timestamp, _position in MmapedDict.read_all_values_from_file(dead):
                    total, _ = archive.read_value(key)
                    archive.write_value(key, total + value, timestamp)
            finally:
                archive.close()
            os.remove(dead)


def child_exit(server, worker) -> None:
    """Gunicorn's child_exit hook, in the master once a worker has ended (any way it ended)."""
    path = directory()
    if path is None:
        return
    try:
        fold_dead_process(path, worker.pid)
    # The master must go on whatever happens here; the worker's counts stay in its own files.
    except (OSError, ValueError) as error:
        server.log.warning("metrics of worker %s not folded into the archive: %s", worker.pid, error)
