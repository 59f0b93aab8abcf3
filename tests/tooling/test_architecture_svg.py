"""docs/tour/architecture.svg is what tools/architecture_svg.py draws from the lab's inventory."""

import importlib.util
from pathlib import Path

import yaml

from extagram_lab import inventory

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "vagrant" / "hosts.yml"
_SPEC = importlib.util.spec_from_file_location("architecture_svg", REPO / "tools" / "architecture_svg.py")
architecture_svg = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(architecture_svg)


def test_the_committed_drawing_is_the_inventorys():
    drawn = architecture_svg.render(inventory.hosts(INVENTORY))
    committed = (REPO / "docs" / "tour" / "architecture.svg").read_text()
    assert committed == drawn, "run .venv/bin/python tools/architecture_svg.py and commit the SVG"


def test_every_node_has_one_box():
    drawn = architecture_svg.render(inventory.hosts(INVENTORY))
    assert drawn.count("</title></rect>") == len(inventory.hosts(INVENTORY))
    for host in inventory.hosts(INVENTORY).values():
        assert f">{host.address}</text>" in drawn


def test_a_feed_node_added_to_the_inventory_gets_a_box_and_s1s_arrow(tmp_path):
    topology = yaml.safe_load(INVENTORY.read_text())
    topology["all"]["children"]["feed"]["hosts"]["s8"] = {"ansible_host": "192.168.56.18"}
    copy = tmp_path / "hosts.yml"
    copy.write_text(yaml.safe_dump(topology))
    before = architecture_svg.render(inventory.hosts(INVENTORY))
    after = architecture_svg.render(inventory.hosts(copy))
    assert after.count("</title></rect>") == before.count("</title></rect>") + 1
    assert "<title>s8</title>" in after and ">192.168.56.18</text>" in after
    # S1 to it, the primary's replication to it and its reads of the primary: three more arrows.
    assert after.count("<line ") == before.count("<line ") + 3
