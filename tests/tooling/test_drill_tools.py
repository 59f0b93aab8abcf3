"""The drills read ansible-playbook's recap to prove a run changed nothing, and give one verdict."""

import pytest

from extagram_failover.labctl import LabError
from extagram_lab.drill_tools import Checks, changed_hosts, run_drill

RECAP = """
PLAY RECAP *********************************************************************
localhost                  : ok=4    changed=0    unreachable=0    failed=0    skipped=2
s2                         : ok=80   changed=0    unreachable=0    failed=0    skipped=30
s7                         : ok=61   changed=3    unreachable=0    failed=0    skipped=12
"""


def test_only_the_hosts_that_changed_are_listed():
    assert changed_hosts(RECAP) == {"s7": 3}


def test_a_run_without_a_recap_shows_no_change_and_is_not_taken_for_one():
    assert changed_hosts("ERROR! the playbook could not be parsed") == {}


def verdict(*steps, drill=None) -> int:
    with pytest.raises(SystemExit) as exited:
        run_drill(drill or Checks(), *steps)
    return exited.value.code


def test_a_drill_passes_only_when_every_check_did():
    drill = Checks()
    assert verdict(lambda: drill.check(True, "fine"), drill=drill) == 0
    drill = Checks()
    assert verdict(lambda: drill.check(False, "broken"), lambda: drill.check(True, "fine"), drill=drill) == 1
    assert drill.failures == ["broken"]


def test_a_lab_error_stops_the_steps_and_fails_the_drill(capsys):
    ran = []

    def stops():
        raise LabError("site.yml failed")

    assert verdict(stops, lambda: ran.append("after")) == 1
    assert ran == []
    assert "STOPPED: site.yml failed" in capsys.readouterr().out
