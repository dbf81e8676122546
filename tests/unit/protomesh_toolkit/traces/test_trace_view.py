"""The receiver's span records, and `protomesh traces`' list and tree built from them."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from protomesh_toolkit.traces.receiver import spans_of
from protomesh_toolkit.traces.view import Span, render_list, render_tree

TRACE = "ab" * 16


def span(name: str, span_id: str, parent: str | None, start: int, service: str = "user") -> Span:
    return {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": "SERVER" if parent is None else "CLIENT",
        "service": service,
        "start_ns": start,
        "end_ns": start + 1_000_000,
        "status": "UNSET",
        "attributes": {},
        "links": [],
    }


def test_an_export_becomes_one_flat_record_per_span() -> None:
    value = common_pb2.AnyValue
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        common_pb2.KeyValue(key="service.name", value=value(string_value="user"))
                    ]
                ),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        spans=[
                            trace_pb2.Span(
                                trace_id=bytes.fromhex(TRACE),
                                span_id=bytes.fromhex("01" * 8),
                                name="GetUser",
                                kind=trace_pb2.Span.SPAN_KIND_SERVER,
                                start_time_unix_nano=10,
                                end_time_unix_nano=20,
                                attributes=[
                                    common_pb2.KeyValue(
                                        key="rpc.grpc.status_code", value=value(int_value=5)
                                    )
                                ],
                                status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR),
                            )
                        ]
                    )
                ],
            )
        ]
    )
    (record,) = spans_of(request)
    assert record["trace_id"] == TRACE
    assert record["parent_span_id"] is None
    assert (record["service"], record["kind"], record["status"]) == ("user", "SERVER", "ERROR")
    assert record["attributes"] == {"rpc.grpc.status_code": 5}


def test_the_tree_puts_each_span_under_its_parent_in_start_order() -> None:
    spans = [
        span("SELECT b", "03", "01", 300),
        span("GetUser", "01", None, 100),
        span("SELECT a", "02", "01", 200),
        span("elsewhere", "04", "ff", 50, "edge"),  # its parent was never received
    ]
    lines = render_tree(spans, TRACE).splitlines()
    assert lines[0].startswith(f"trace {TRACE}  4 spans")
    names = [line.split()[2] for line in lines[1:]]
    assert names == ["elsewhere", "GetUser", "SELECT", "SELECT"]
    assert lines[3].index("user") > lines[2].index("user")  # children are indented
    assert "SELECT a" in lines[3]
    assert "SELECT b" in lines[4]


def test_the_list_shows_the_newest_trace_first() -> None:
    older = [{**span("Old", "01", None, 100), "trace_id": "11" * 16}]
    newer = [{**span("New", "02", None, 900), "trace_id": "22" * 16}]
    rows = render_list(older + newer).splitlines()
    assert [row.split()[0] for row in rows] == ["22" * 16, "11" * 16]
    assert rows[0].endswith("user: New")
    assert render_list([]) == "no traces yet"
