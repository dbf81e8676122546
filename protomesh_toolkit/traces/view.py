"""Read the receiver's span file back: list recent traces, print one as a tree.

protomesh traces                    # the latest traces, newest first
protomesh traces 4bf92f35...        # one trace, parent above children
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Span = dict[str, Any]
DETAIL_WIDTH = 60


def read_spans(path: Path) -> list[Span]:
    """Every span in the file; a line cut short by a crash is skipped."""
    if not path.exists():
        return []
    spans = []
    for line in path.read_text().splitlines():
        try:
            spans.append(json.loads(line))
        except ValueError:
            continue
    return spans


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    spans: int
    root: str
    started_ns: int
    duration_ms: float


def summaries(spans: Iterable[Span]) -> list[TraceSummary]:
    """One line per trace, newest first."""
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span["trace_id"]].append(span)
    found = []
    for trace_id, members in traces.items():
        ids = {span["span_id"] for span in members}
        roots = [s for s in members if s["parent_span_id"] not in ids] or members
        first = min(roots, key=lambda s: s["start_ns"])
        start = min(s["start_ns"] for s in members)
        end = max(s["end_ns"] for s in members)
        label = f"{first['service']}: {first['name']}"
        found.append(TraceSummary(trace_id, len(members), label, start, (end - start) / 1e6))
    return sorted(found, key=lambda t: t.started_ns, reverse=True)


def render_list(spans: Iterable[Span], limit: int = 20) -> str:
    rows = summaries(spans)[:limit]
    if not rows:
        return "no traces yet"
    return "\n".join(
        f"{t.trace_id}  {t.spans:>3} spans  {t.duration_ms:>9.1f} ms  {t.root}" for t in rows
    )


def render_tree(spans: Iterable[Span], trace_id: str) -> str:
    """The trace's spans, each under its parent, in start order; orphans at the top level."""
    members = [s for s in spans if s["trace_id"] == trace_id.lower()]
    if not members:
        raise KeyError(trace_id)
    ids = {span["span_id"] for span in members}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in members:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children[parent].append(span)
    width = max(len(s["name"]) for s in members) + 2 * _depth(children)
    service_width = max(len(s["service"]) for s in members)
    lines = [_heading(trace_id, members)]

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: s["start_ns"]):
            indent = "  " * depth
            status = "" if span["status"] == "UNSET" else span["status"]
            duration = (span["end_ns"] - span["start_ns"]) / 1e6
            lines.append(
                f"{indent}{span['service']:<{service_width}}  {span['kind']:<8}  "
                f"{span['name']:<{width - len(indent)}}  {status:<5}  {duration:>8.1f} ms"
                f"{_detail(span)}"
            )
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def _heading(trace_id: str, members: list[Span]) -> str:
    start = min(s["start_ns"] for s in members)
    end = max(s["end_ns"] for s in members)
    return f"trace {trace_id}  {len(members)} spans  {(end - start) / 1e6:.1f} ms"


def _depth(children: dict[str | None, list[Span]]) -> int:
    def depth(parent: str | None) -> int:
        return 1 + max((depth(child["span_id"]) for child in children[parent]), default=0)

    return depth(None)


def _detail(span: Span) -> str:
    attributes = span.get("attributes", {})
    for key in ("rpc.grpc.status_code", "db.statement", "db.query.text", "http.status_code"):
        if key in attributes:
            value = " ".join(str(attributes[key]).split())
            shown = value if len(value) <= DETAIL_WIDTH else value[: DETAIL_WIDTH - 3] + "..."
            return f"  {key}={shown}"
    return ""
