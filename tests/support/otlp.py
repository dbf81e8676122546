"""A real OTLP/gRPC receiver on loopback, for tests that check what services and Envoy export."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from protomesh.telemetry.receiver import serve_receiver
from protomesh.telemetry.trace_view import Span, read_spans


@dataclass
class Receiver:
    port: int
    path: Path

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spans(self, trace_id: str | None = None) -> list[Span]:
        return [s for s in read_spans(self.path) if trace_id in (None, s["trace_id"])]

    def wait_for(
        self, trace_id: str, complete: Callable[[list[Span]], bool], timeout: float = 20.0
    ) -> list[Span]:
        """The trace's spans once `complete` says all expected ones arrived (Envoy flushes ~5 s)."""
        deadline = time.monotonic() + timeout
        while not complete(spans := self.spans(trace_id)):
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id} incomplete after {timeout}s: {spans}")
            time.sleep(0.1)
        return spans


def by_service_and_kind(spans: list[Span]) -> dict[tuple[str, str], Span]:
    """(service, kind) → the first such span by start time."""
    found: dict[tuple[str, str], Span] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        found.setdefault((span["service"], span["kind"]), span)
    return found


@contextlib.contextmanager
def running_receiver(directory: Path) -> Iterator[Receiver]:
    path = directory / "spans.jsonl"
    server, port = serve_receiver(path)
    try:
        yield Receiver(port, path)
    finally:
        server.stop(grace=None)
