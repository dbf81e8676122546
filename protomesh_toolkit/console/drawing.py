"""Inline SVG drawn on the server: the topology and the small charts.

Health is never told by colour alone: every node also says its state in
words, and every chart has a text title a screen reader reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Fill, border: dark text on light tints keeps well above WCAG AA contrast.
STYLES = {
    "healthy": ("#dafbe1", "#1a7f37"),
    "down": ("#ffebe9", "#b42318"),
    "unknown": ("#eaeef2", "#57606a"),
}
NODE_WIDTH, LINE, PAD, GAP, COLUMN = 232, 16, 8, 18, 285


def tone(state: str) -> str:
    """healthy, down (unhealthy, exited) or unknown (not started, not read yet)."""
    if state == "healthy":
        return "healthy"
    return "down" if state in ("unhealthy", "exited") else "unknown"


@dataclass(frozen=True)
class Node:
    key: str  # what edges name it by
    title: str
    state: str  # a ComponentStatus state, or "" when the mesh has no live state for it
    lines: tuple[str, ...] = ()  # replicas, lag, ...
    component: str = ""  # the component it stands for, for tests and links


def topology(columns: list[list[Node]], edges: list[tuple[str, str, bool]]) -> str:
    """Nodes in columns, left to right; edges (from, to, dashed) drawn under them."""
    places: dict[str, tuple[float, float, float]] = {}  # key -> x, y, height
    height = 0.0
    for index, column in enumerate(columns):
        y = 10.0
        for node in column:
            box = 2 * PAD + LINE * (2 + len(node.lines))
            places[node.key] = (10.0 + index * COLUMN, y, box)
            y += box + GAP
        height = max(height, y)
    width = 10 + len(columns) * COLUMN
    parts = [
        f'<svg class="topology" role="img" aria-labelledby="topology-title" '
        f'viewBox="0 0 {width} {height:.0f}" width="{width}" height="{height:.0f}">',
        '<title id="topology-title">The mesh: callers, services, infrastructure and '
        "consumers, each with its live state</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/>'
        "</marker></defs>",
    ]
    for source, target, dashed in edges:
        if source in places and target in places:
            parts.append(_edge(places[source], places[target], dashed))
    for column in columns:
        for node in column:
            parts.append(_node(node, *places[node.key]))
    parts.append("</svg>")
    return "".join(parts)


def _edge(a: tuple[float, float, float], b: tuple[float, float, float], dashed: bool) -> str:
    ax, ay, ah = a
    bx, by, bh = b
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    if ax == bx:  # same column (a service calling another): an arc on the right
        x = ax + NODE_WIDTH
        y1, y2 = ay + ah / 2, by + bh / 2
        path = f"M{x},{y1:.0f} C{x + 45},{y1:.0f} {x + 45},{y2:.0f} {x},{y2:.0f}"
    else:
        x1, y1 = (ax + NODE_WIDTH, ay + ah / 2) if bx > ax else (ax, ay + ah / 2)
        x2, y2 = (bx, by + bh / 2) if bx > ax else (bx + NODE_WIDTH, by + bh / 2)
        middle = (x1 + x2) / 2
        path = f"M{x1},{y1:.0f} C{middle},{y1:.0f} {middle},{y2:.0f} {x2},{y2:.0f}"
    return (
        f'<path d="{path}" fill="none" stroke="#57606a" stroke-width="1.3"{dash} '
        'marker-end="url(#arrow)"/>'
    )


def _node(node: Node, x: float, y: float, height: float) -> str:
    kind = tone(node.state) if node.state else "unknown"
    fill, border = STYLES[kind]
    said = node.state or "no live state"
    text = [
        f'<text x="{x + PAD}" y="{y + PAD + 12}" font-weight="600">{escape(node.title)}</text>',
        f'<text x="{x + PAD}" y="{y + PAD + 12 + LINE}">{escape(said)}</text>',
    ]
    for index, line in enumerate(node.lines):
        text.append(
            f'<text x="{x + PAD}" y="{y + PAD + 12 + LINE * (2 + index)}">{escape(line)}</text>'
        )
    return (
        f'<g class="node" data-component="{escape(node.component or node.key)}" '
        f'data-state="{escape(node.state)}" data-tone="{kind}">'
        f"<title>{escape(node.title)}: {escape(said)}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{height}" rx="6" '
        f'fill="{fill}" stroke="{border}" stroke-width="2"/>{"".join(text)}</g>'
    )


def sparkline(
    values: Sequence[float | None], title: str, width: int = 140, height: int = 30
) -> str:
    """A small line chart of `values` (oldest first); gaps where a value is missing."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    step = width / max(1, len(values) - 1)
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        y = height - 2 - (height - 4) * value / top
        runs[-1].append(f"{index * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(run)}" fill="none" stroke="#0969da" stroke-width="1.5"/>'
        for run in runs
        if run
    )
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#f6f8fa"/>{lines}</svg>'
    )
