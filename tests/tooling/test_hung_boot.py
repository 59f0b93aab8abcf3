"""lab.py start powers a VM off and on once when its console says the boot hung (2026-12-06: s2
stuck in the initramfs after a halt under load); only what this boot wrote counts."""

import importlib.util

from extagram_lab.common import REPO

spec = importlib.util.spec_from_file_location("lab_tool", REPO / "tests/lab/lab.py")
lab_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_tool)

HUNG = "[  243.1] INFO: task mount:131 blocked for more than 120 seconds.\n"
BOOTING = "[    1.2] Run /init as init process\nLoading, please wait...\n"


def console(tmp_path, monkeypatch, text):
    monkeypatch.setattr(lab_tool, "CONSOLE_DIR", tmp_path)
    (tmp_path / "s2.log").write_text(text)


def test_a_hung_boot_is_recognised_from_the_console(tmp_path, monkeypatch):
    console(tmp_path, monkeypatch, BOOTING + HUNG)
    assert "blocked for more than 120 seconds" in lab_tool.hung_boot_line("s2", 0)


def test_a_boot_that_goes_on_is_not_taken_for_a_hung_one(tmp_path, monkeypatch):
    console(tmp_path, monkeypatch, BOOTING)
    assert lab_tool.hung_boot_line("s2", 0) is None


def test_an_earlier_boots_hang_does_not_count(tmp_path, monkeypatch):
    console(tmp_path, monkeypatch, HUNG + BOOTING)
    assert lab_tool.hung_boot_line("s2", len(HUNG)) is None


def test_no_console_file_means_nothing_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_tool, "CONSOLE_DIR", tmp_path)
    assert lab_tool.hung_boot_line("s9", 0) is None
