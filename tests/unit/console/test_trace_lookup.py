"""A trace is found by its id, by a request id on a span, or by a request id in a log line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protomesh_toolkit.console import trace_lookup
from protomesh_toolkit.console.trace_lookup import find_trace, waterfall

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(
    span_id: str, parent: str | None, start: int, end: int, **attributes: Any
) -> dict[str, Any]:
    return {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": span_id,
        "kind": "SERVER",
        "service": "s",
        "start_ns": start,
        "end_ns": end,
        "status": "UNSET",
        "attributes": attributes,
    }


SPANS = [
    span("publish", "call", 3_000_000, 4_000_000),
    span("ingress", None, 0, 10_000_000, **{"guid:x-request-id": "req-1"}),
    span("call", "ingress", 1_000_000, 9_000_000),
    span("query", "call", 2_000_000, 2_500_000),
]


def test_by_trace_id_and_by_a_request_id_on_a_span(tmp_path: Path) -> None:
    assert find_trace(SPANS, TRACE.upper(), tmp_path) == TRACE
    assert find_trace(SPANS, "req-1", tmp_path) == TRACE
    assert find_trace(SPANS, "req-2", tmp_path) is None


def test_by_a_request_id_the_logs_name(tmp_path: Path) -> None:
    record = {"message": "rpc", "request_id": "req-9", "trace_id": "ab" * 16}
    (tmp_path / "order.log").write_text("not json\n" + json.dumps(record) + "\n")
    assert find_trace(SPANS, "req-9", tmp_path) == "ab" * 16


def test_the_waterfall_puts_children_under_their_parent_in_start_order() -> None:
    bars = waterfall(SPANS, TRACE)
    assert [(bar.span["span_id"], bar.depth) for bar in bars] == [
        ("ingress", 0),
        ("call", 1),
        ("query", 2),
        ("publish", 2),
    ]
    assert (bars[2].offset_ms, bars[2].duration_ms) == (2.0, 0.5)


def test_the_span_file_is_read_from_its_end_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spans.jsonl"
    lines = [json.dumps(span(f"s{i}", None, i, i + 1)) for i in range(100)]
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(trace_lookup, "SPAN_BYTES", len(lines[-1]) * 10)
    kept = [s["span_id"] for s in trace_lookup.SpanFile(path).spans()]
    assert kept[-1] == "s99"
    assert 5 < len(kept) < 11  # the newest few, none cut in half
