"""Looking spans up in what the OTLP receiver stored."""

from __future__ import annotations

from protomesh.telemetry.trace_view import Span

__all__ = ["Span", "by_service_and_kind"]


def by_service_and_kind(spans: list[Span]) -> dict[tuple[str, str], Span]:
    """(service, kind) → the first such span; a trace here has one of each."""
    found: dict[tuple[str, str], Span] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        found.setdefault((span["service"], span["kind"]), span)
    return found
