"""The comparison of GTID positions (roles/extagram_shared/filter_plugins/gtid.py)."""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).parents[2] / "roles/extagram_shared/filter_plugins/gtid.py"
_SPEC = importlib.util.spec_from_file_location("gtid_filter", _PATH)
gtid = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gtid)


@pytest.mark.parametrize(
    ("position", "other", "missing"),
    [
        ("0-17-83", "0-17-83", []),
        ("0-17-90", "0-17-83", []),
        ("0-17-83", "0-17-90", ["0-17-90"]),
        ("", "0-17-5", ["0-17-5"]),
        ("0-17-5", "", []),
        # Domain by domain: ahead in one does not make up for behind in another.
        ("0-17-90,1-12-3", "0-17-83,1-12-7", ["1-12-7"]),
        ("0-17-90", "0-17-83, 2-13-1", ["2-13-1"]),
        # A primary's binary log joined with its replica position: the highest of each domain.
        ("17-17-40,17-17-12,12-12-9", "17-17-40,12-12-9", []),
        # A former primary's own writes that the promoted node never received.
        ("17-17-38,12-12-9", "17-17-40", ["17-17-40"]),
    ],
)
def test_what_the_candidate_lacks(position, other, missing):
    assert gtid.gtid_missing(position, other) == missing


def test_the_filter_is_registered_under_its_name():
    assert gtid.FilterModule().filters()["gtid_missing"] is gtid.gtid_missing
