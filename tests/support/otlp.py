"""A real OTLP/gRPC receiver on loopback, for tests that check what services and Envoy export."""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from protomesh_toolkit.traces.receiver import serve_receiver
from protomesh_toolkit.traces.view import Span, read_spans


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


def tracing_to(receiver: Receiver) -> Callable[[dict[str, Any]], None]:
    """A mesh.yaml change (for `edge_mesh`) that makes the edge trace to `receiver`."""

    def change(document: dict[str, Any]) -> None:
        document["telemetry"] = {"otlp_endpoint": {"local": receiver.endpoint}, "sample_rate": 1.0}

    return change


def scrape_metrics(port: str | int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's Prometheus endpoint as {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
