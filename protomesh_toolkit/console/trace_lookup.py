"""Find a trace by its id or by a request id, and lay one out as a waterfall.

The spans come from the local OTLP receiver's file (`protomesh up --otlp`). A
request id is found where the mesh writes it: on a span's attributes (Envoy
tags its ingress span with `x-request-id`), else in the components' JSON log
lines, which carry `request_id` beside `trace_id`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from protomesh_toolkit.traces.view import Span

TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
LOG_TAIL_BYTES = 2_000_000  # how far back in each log a request id is looked for
SPAN_BYTES = 4_000_000  # the newest spans kept in memory: about 6,000 of ~650 bytes


class SpanFile:
    """The newest spans of the receiver's file, read again only when the file has changed.

    The receiver keeps no retention, so the file only grows: the console reads its last
    SPAN_BYTES at most (some 6,000 spans), which bounds its own memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._spans: list[Span] = []

    def spans(self) -> list[Span]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        with self._lock:
            if self._seen != (stat.st_size, stat.st_mtime_ns):
                self._spans = _tail_spans(self.path, stat.st_size)
                self._seen = (stat.st_size, stat.st_mtime_ns)
            return self._spans


def _tail_spans(path: Path, size: int) -> list[Span]:
    with path.open("rb") as file:
        file.seek(max(0, size - SPAN_BYTES))
        lines = file.read(SPAN_BYTES).splitlines()
    if size > SPAN_BYTES:
        lines = lines[1:]  # the first line is cut in the middle
    spans = []
    for line in lines:
        try:
            spans.append(json.loads(line))
        except ValueError:  # a line cut short by a crash
            continue
    return spans


def find_trace(spans: list[Span], query: str, logs_dir: Path) -> str | None:
    """The trace id `query` names: itself, or the trace of the request with that id."""
    query = query.strip()
    if TRACE_ID.fullmatch(query) and any(s["trace_id"] == query.lower() for s in spans):
        return query.lower()
    for span in spans:
        if query in (str(value) for value in span.get("attributes", {}).values()):
            return str(span["trace_id"])
    return _trace_in_logs(query, logs_dir) if query else None


def _trace_in_logs(request_id: str, logs_dir: Path) -> str | None:
    for log in sorted(logs_dir.glob("*.log")):
        with log.open("rb") as file:
            file.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
            for line in file:
                if request_id.encode() not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("request_id") == request_id and record.get("trace_id"):
                    return str(record["trace_id"])
    return None


@dataclass(frozen=True)
class Bar:
    """One span on the waterfall: its depth in the tree and where it sits in time."""

    span: Span
    depth: int
    offset_ms: float
    duration_ms: float


def waterfall(spans: list[Span], trace_id: str) -> list[Bar]:
    """The trace's spans depth-first, children in start order under their parent."""
    members = [s for s in spans if s["trace_id"] == trace_id]
    if not members:
        return []
    ids = {span["span_id"] for span in members}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in members:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children[parent].append(span)
    start = min(s["start_ns"] for s in members)
    bars: list[Bar] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: s["start_ns"]):
            offset = (span["start_ns"] - start) / 1e6
            bars.append(Bar(span, depth, offset, (span["end_ns"] - span["start_ns"]) / 1e6))
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return bars
