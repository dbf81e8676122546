"""A tiny OTLP/gRPC trace receiver that appends every span it gets to a JSON-lines file.

For the local cluster (`protomesh up --otlp`) and the tests: services and
Envoy export to it exactly as they would to a collector, and
`protomesh traces` reads the file. It keeps no index and no retention; point
the mesh at a real collector or Jaeger for anything more (docs/observability.md).

    python -m protomesh_toolkit.traces.receiver --port 4317 --out .run/traces/spans.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as service_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SERVER_OPTIONS = [("grpc.so_reuseport", 0)]


def attribute_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [attribute_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: attribute_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def spans_of(request: service_pb2.ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    """One flat JSON-ready dict per span, with its service name from the resource."""
    for resource_spans in request.resource_spans:
        resource = {kv.key: attribute_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex() or None,
                    "name": span.name,
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                    "service": resource.get("service.name", "unknown"),
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                        "STATUS_CODE_"
                    ),
                    "attributes": {kv.key: attribute_value(kv.value) for kv in span.attributes},
                    "links": [
                        {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                        for link in span.links
                    ],
                }


class SpanFileReceiver(service_grpc.TraceServiceServicer):
    """Appends each export's spans to `path` as JSON lines, whole exports at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def Export(
        self, request: service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> service_pb2.ExportTraceServiceResponse:
        lines = "".join(json.dumps(span) + "\n" for span in spans_of(request))
        with self._lock, self.path.open("a") as file:
            file.write(lines)
        return service_pb2.ExportTraceServiceResponse()


def serve_receiver(path: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[grpc.Server, int]:
    """Start a receiver writing to `path`; returns the server and the port it listens on."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=SERVER_OPTIONS)
    service_grpc.add_TraceServiceServicer_to_server(SpanFileReceiver(path), server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.traces.receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the JSON-lines file to append to")
    args = parser.parse_args(argv)
    server, port = serve_receiver(args.out, args.host, args.port)
    print(f"OTLP receiver on {args.host}:{port}, writing {args.out}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
