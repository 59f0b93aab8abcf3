"""`extagram media resync`: write every photo the database has and uploads_dir lacks."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pymysql.connections import Connection

from extagram import store
from extagram.photo_files import write_photo_file

NAMES_PER_BATCH = 500


@dataclass
class ResyncReport:
    written: int = 0
    already_present: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"written {self.written}, already present {self.already_present}, failed {self.failed}"


def resync_photos(
    connection: Connection, uploads_dir: str, write_timeout: float, batch_size: int = NAMES_PER_BATCH
) -> ResyncReport:
    # Names are walked in batches and each missing photo's bytes are fetched alone,
    # so memory stays bounded by one photo whatever the table size.
    report = ResyncReport()
    last_name = ""
    while names := store.photo_names_after(connection, last_name, batch_size):
        last_name = names[-1]
        for name in names:
            if os.path.exists(os.path.join(uploads_dir, name)):
                report.already_present += 1
                continue
            photo = store.photo(connection, name)
            if photo is not None and write_photo_file(uploads_dir, name, photo.data, write_timeout):
                report.written += 1
            else:
                report.failed += 1
    return report
