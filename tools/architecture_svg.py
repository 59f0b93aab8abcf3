#!/usr/bin/env python3
"""Draw the lab's architecture from its inventory: docs/tour/architecture.svg.

Usage: architecture_svg.py [INVENTORY [OUTPUT]]   (defaults: inventory/vagrant/hosts.yml and
docs/tour/architecture.svg of this checkout)

One box per node, in the row of its first group below (the groups it also belongs to are written
in the box), and arrows for the main flows: visitors to S1, S1 to each upstream group, the feed
nodes' reads, the primary's replication, the upload node's writes and its NFS export to the static
nodes. A node added to the inventory gets its box and arrows, so the drawing never needs editing;
tests/tooling/test_architecture_svg.py checks the committed file is what this script writes.
Run it with the repository's venv (.venv/bin/python): the inventory is read by extagram_lab's one
reader, which needs PyYAML; the drawing itself is plain text.
"""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

from extagram_lab import inventory

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INVENTORY = REPO / "inventory" / "vagrant" / "hosts.yml"
DEFAULT_OUTPUT = REPO / "docs" / "tour" / "architecture.svg"

# Rows top to bottom: (group, what its nodes do). A node sits in the first group it belongs to.
ROWS = (
    (("balancer", "balancer: HTTPS, cache"),),
    (
        ("feed", "feed: Gunicorn + replica"),
        ("upload", "upload: Gunicorn"),
        ("media", "media: nginx /storage/"),
        ("assets", "assets: nginx /static/"),
    ),
    (("database", "database: MariaDB primary"),),
)
BOX_W, BOX_H, GAP, FRAME_PAD, ROW_GAP, MARGIN = 160, 70, 24, 14, 90, 20
FRAME_H = BOX_H + 2 * FRAME_PAD + 16  # the group's name above its boxes
TOP = MARGIN + 70  # below the visitors' box
COLOURS = {
    "balancer": "#fde2c8",
    "feed": "#d5e8d4",
    "upload": "#dae8fc",
    "media": "#fff2cc",
    "assets": "#fff2cc",
    "database": "#e1d5e7",
}


def placed_nodes(hosts: dict[str, inventory.Host]) -> dict[str, list[inventory.Host]]:
    """Group -> its nodes, each node under the first group of ROWS it belongs to."""
    order = [group for row in ROWS for group, _label in row]
    placed: dict[str, list[inventory.Host]] = {group: [] for group in order}
    for host in hosts.values():
        group = next((g for g in order if host.in_group(g)), None)
        if group:
            placed[group].append(host)
    return placed


def layout(placed: dict[str, list[inventory.Host]]) -> tuple[dict, dict, int]:
    """(node -> box (x, y), group -> frame (x, y, w, h), the drawing's width); rows centred."""
    rows = [[(group, len(placed[group])) for group, _label in row if placed[group]] for row in ROWS]
    row_widths = [sum(n * (BOX_W + GAP) - GAP + 2 * FRAME_PAD + GAP for _g, n in row) - GAP for row in rows]
    width = max(row_widths) + 2 * MARGIN
    boxes, frames = {}, {}
    for row_index, row in enumerate(rows):
        y = TOP + row_index * (FRAME_H + ROW_GAP)
        x = (width - row_widths[row_index]) // 2
        for group, count in row:
            frame_w = count * (BOX_W + GAP) - GAP + 2 * FRAME_PAD
            frames[group] = (x, y, frame_w, FRAME_H)
            for index, host in enumerate(placed[group]):
                boxes[host.name] = (x + FRAME_PAD + index * (BOX_W + GAP), y + FRAME_PAD + 16)
            x += frame_w + GAP
    return boxes, frames, width


def arrow(start: tuple, end: tuple, label: str = "", dashed: bool = False) -> list[str]:
    (x1, y1), (x2, y2) = start, end
    style = ' stroke-dasharray="5 4"' if dashed else ""
    out = [
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" class="flow"{style} '
        'marker-end="url(#head)"/>'
    ]
    if label:
        middle = ((x1 + x2) / 2 + 4, (y1 + y2) / 2)
        out.append(f'<text x="{middle[0]:.0f}" y="{middle[1]:.0f}" class="flow">{escape(label)}</text>')
    return out


class Edges:
    """Where arrows meet a node's box."""

    def __init__(self, boxes: dict):
        self.boxes = boxes

    def top(self, name: str, shift: float = 0) -> tuple[float, float]:
        return self.boxes[name][0] + BOX_W / 2 + shift, self.boxes[name][1]

    def bottom(self, name: str, shift: float = 0) -> tuple[float, float]:
        return self.boxes[name][0] + BOX_W / 2 + shift, self.boxes[name][1] + BOX_H

    def right(self, name: str) -> tuple[float, float]:
        return self.boxes[name][0] + BOX_W, self.boxes[name][1] + BOX_H / 2


def request_flows(placed, edges: Edges, visitors: tuple) -> list[str]:
    """Visitors to S1, S1 to every node of each upstream group (the first arrow named)."""
    out: list[str] = []
    labels = {"feed": "pages, API", "upload": "posts", "media": "/storage/", "assets": "/static/"}
    for balancer in placed["balancer"]:
        out += arrow(visitors, edges.top(balancer.name), "HTTPS")
        for group, label in labels.items():
            for index, host in enumerate(placed[group]):
                out += arrow(edges.bottom(balancer.name), edges.top(host.name), "" if index else label)
    return out


def database_flows(placed, edges: Edges) -> list[str]:
    """The primary replicates to each feed node's replica; a feed node reads the primary when its
    replica is not fresh (dashed); the upload node writes to the primary."""
    out: list[str] = []
    for primary in placed["database"]:
        for host in placed["feed"]:
            out += arrow(edges.top(primary.name, -8), edges.bottom(host.name, -8), "replication")
            out += arrow(edges.bottom(host.name, 8), edges.top(primary.name, 8), dashed=True)
        for host in placed["upload"]:
            out += arrow(edges.bottom(host.name), edges.right(primary.name), "writes")
    return out


def nfs_flows(placed, edges: Edges) -> list[str]:
    """The NFS server's export, read by every static node that mounts it."""
    out: list[str] = []
    readers = [h for group in ("media", "assets") for h in placed[group] if h.in_group("nfs_clients")]
    for server in (h for h in placed["upload"] if h.in_group("nfs_server")):
        sx, sy = edges.bottom(server.name)
        for client in readers:
            cx, cy = edges.bottom(client.name)
            out.append(
                f'<path d="M{sx:.0f},{sy:.0f} C{sx:.0f},{sy + 50:.0f} {cx:.0f},{cy + 50:.0f} '
                f'{cx:.0f},{cy + 2:.0f}" class="nfs" marker-end="url(#head)"/>'
            )
        out.append(f'<text x="{sx - 112:.0f}" y="{sy + 30:.0f}" class="flow">NFS export (read-only)</text>')
    return out


def node_box(host: inventory.Host, group: str, x: int, y: int) -> list[str]:
    centre = x + BOX_W / 2
    others = [g for g in host.groups if g not in {group, "all"}]
    out = [
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" class="node" '
        f'fill="{COLOURS[group]}"><title>{escape(host.name)}</title></rect>',
        f'<text x="{centre:.0f}" y="{y + 18}" text-anchor="middle" class="name">{escape(host.name)}</text>',
        f'<text x="{centre:.0f}" y="{y + 33}" text-anchor="middle">{escape(host.address)}</text>',
    ]
    # Its other groups, two to a line.
    for line, start in enumerate(range(0, len(others), 2)):
        also = escape(", ".join(others[start : start + 2]))
        out.append(
            f'<text x="{centre:.0f}" y="{y + 48 + 12 * line}" text-anchor="middle" class="flow">{also}</text>'
        )
    return out


def render(hosts: dict[str, inventory.Host]) -> str:
    placed = placed_nodes(hosts)
    boxes, frames, width = layout(placed)
    height = TOP + len(ROWS) * (FRAME_H + ROW_GAP) - ROW_GAP + MARGIN + 20
    visitors = (width / 2, MARGIN + 34)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<title>Extagram: the lab's nodes and the main flows (tools/architecture_svg.py)</title>",
        "<style>rect.node{stroke:#444;stroke-width:1}rect.group{fill:none;stroke:#999;"
        "stroke-dasharray:3 3}line.flow,path.nfs{stroke:#555;stroke-width:1.2;fill:none}"
        "path.nfs{stroke:#2a6ebb}text.flow{fill:#333;font-size:10px}text.group{fill:#666}"
        "text.name{font-weight:bold}</style>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<rect x="{visitors[0] - 70:.0f}" y="{MARGIN}" width="140" height="34" rx="17" '
        'class="node" fill="#f5f5f5"/>',
        f'<text x="{visitors[0]:.0f}" y="{MARGIN + 21}" text-anchor="middle">visitors (browsers)</text>',
    ]
    labels = dict(item for row in ROWS for item in row)
    for group, (x, y, w, h) in frames.items():
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" class="group"/>')
        out.append(f'<text x="{x + 6}" y="{y + 13}" class="group">{escape(labels[group])}</text>')
    for group, nodes in placed.items():
        for host in nodes:
            out += node_box(host, group, *boxes[host.name])
    edges = Edges(boxes)
    out += request_flows(placed, edges, visitors) + database_flows(placed, edges) + nfs_flows(placed, edges)
    out.append(
        f'<text x="{MARGIN}" y="{height - MARGIN + 6}" class="flow">Dashed: a feed node reads the primary '
        "when its own replica is not fresh. Grey: the groups of inventory/vagrant/hosts.yml.</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_INVENTORY
    target = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    target.write_text(render(inventory.hosts(source)))


if __name__ == "__main__":
    main(sys.argv)
