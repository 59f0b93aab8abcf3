"""The lab suites' step table: CI shows only the end of the output, so a failed step's reason
must be repeated under the table, a passing step must add nothing there, and a step or a whole
run past its budget must say so."""

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
    assert capsys.readouterr().out.rstrip().endswith("| lint | 0 | - | ok |")


def test_a_step_past_its_budget_and_a_run_past_the_suites_are_marked(capsys, tmp_path):
    timer = StepTimer(suite_budget_s=60)
    timer.record("controller", 59, "ok", budget_s=55)
    assert timer.step("verify", [sys.executable, "-c", "import time; time.sleep(1.2)"], tmp_path, budget_s=1)
    timer.print_table()
    out = capsys.readouterr().out
    assert "| controller | 59 | 55 OVER | ok |" in out
    assert "| verify | 1 | 1 OVER | ok |" in out
    assert "Whole run: 1.0 min, OVER the 1-min budget" in out


def test_a_run_within_the_suites_budget_says_so(capsys, tmp_path):
    timer = StepTimer(suite_budget_s=60)
    timer.record("controller", 30, "ok", budget_s=55)
    timer.print_table()
    assert "Whole run: 0.5 min, within the 1-min budget" in capsys.readouterr().out


def test_a_step_gets_its_own_environment_and_exit_codes(capsys, tmp_path):
    """The verify passes hand pytest their options in PYTEST_ADDOPTS, and a pass that selects no
    test (pytest's exit code 5) is not a failure of the loop."""
    timer = StepTimer()
    show = "import os; print('options:', os.environ['PYTEST_ADDOPTS'])"
    assert timer.step("pass", [sys.executable, "-c", show], tmp_path, env={"PYTEST_ADDOPTS": "-m serial"})
    assert "options: -m serial" in capsys.readouterr().out
    nothing_selected = [sys.executable, "-c", "raise SystemExit(5)"]
    assert timer.step("alone", nothing_selected, tmp_path, ok_codes=(0, 5))
    assert not timer.step("alone, strict", nothing_selected, tmp_path)
    timer.print_table()
    out = capsys.readouterr().out
    assert "| alone | 0 | - | ok |" in out and "| alone, strict | 0 | - | FAILED (5) |" in out
