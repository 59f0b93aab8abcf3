"""The lab suites' step table: CI shows only the end of the output, so a failed step's reason
must be repeated under the table, and a passing step must add nothing there."""

import sys

from extagram_lab.common import StepTimer

FAILING_PLAY = (
    "import sys; print('TASK [mariadb : Seed]'); "
    'print(\'fatal: [s2]: FAILED! => {"msg": "seed: connection refused"}\', file=sys.stderr); '
    "print('s2 : ok=3 changed=1 unreachable=0 failed=1'); raise SystemExit(2)"
)


def test_a_failed_steps_reason_is_printed_after_the_table(capsys, tmp_path):
    timer = StepTimer()
    assert not timer.step("converge", [sys.executable, "-c", FAILING_PLAY], tmp_path)
    assert timer.step("lab down", [sys.executable, "-c", "print('removed')"], tmp_path)
    timer.print_table()

    after_table = capsys.readouterr().out.split("| lab down |")[1]
    assert "| converge |" not in after_table  # the table comes first
    assert "converge failed" in after_table
    assert "seed: connection refused" in after_table  # stderr too
    assert "failed=1" in after_table
    assert "TASK [" not in after_table and "removed" not in after_table


def test_passing_steps_add_nothing_under_the_table(capsys, tmp_path):
    timer = StepTimer()
    assert timer.step("lint", [sys.executable, "-c", "print('ERROR is only a word here')"], tmp_path)
    timer.print_table()
    assert capsys.readouterr().out.rstrip().endswith("| lint | 0 | ok |")
