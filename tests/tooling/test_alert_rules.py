"""The alert rules role prometheus deploys, checked and unit-tested by the real promtool.

`promtool check rules` reads roles/prometheus/files/etc/prometheus/rules/extagram.yml, the very
file the role copies to the monitoring node; `promtool test rules` runs the tests beside it
(roles/prometheus/files/tests/), which fire every alert and show it quiet while healthy. Debian's
`prometheus` package gives /usr/bin/promtool (the Makefile's host packages).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

FILES = Path(__file__).parents[2] / "roles/prometheus/files"
RULES = FILES / "etc/prometheus/rules/extagram.yml"
TESTS = sorted((FILES / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package prometheus: the Makefile's HOST_PACKAGES)",
)


def promtool(*args, cwd=None):
    command = [PROMTOOL, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_the_rules_are_valid():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_stays_quiet_in_its_tests():
    assert TESTS
    result = promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_test():
    rules = {line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if "- alert:" in line}
    tested = {
        line.split(":", 1)[1].strip()
        for test in TESTS
        for line in test.read_text().splitlines()
        if line.strip().startswith("alertname:")
    }
    assert rules and rules <= tested, sorted(rules - tested)


def test_the_tests_catch_a_changed_threshold(tmp_path):
    """The harness can fail: the same tests against rules with one threshold moved do."""
    rules_dir = tmp_path / "etc/prometheus/rules"
    rules_dir.mkdir(parents=True)
    text = RULES.read_text()
    assert 'seconds_behind_master{db_role="replica"} > 30' in text
    (rules_dir / RULES.name).write_text(text.replace('{db_role="replica"} > 30', '{db_role="replica"} > 300'))
    (tmp_path / "tests").mkdir()
    for test in TESTS:
        shutil.copy(test, tmp_path / "tests" / test.name)
    result = promtool("test", "rules", *(test.name for test in TESTS), cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "ReplicaLagging" in result.stdout + result.stderr
