"""The promotion drill reads ansible-playbook's recap to prove a run changed nothing."""

from extagram_lab.drill_tools import changed_hosts

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
