"""The async-hop helpers, against the real SDK with an in-memory exporter."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from protomesh import logs, request_context
from protomesh.telemetry.propagation import (
    consume_span,
    extract_context,
    inject_headers,
    publish_span,
)
from protomesh.telemetry.tracing import tracer_provider


def provider(rate: float = 1.0) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return tracer_provider("order", rate, exporter, batch=False), exporter


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_a_request_span_continues_through_outbox_publish_and_consumer() -> None:
    spans, exporter = provider()
    tracer = spans.get_tracer("test")
    token = request_context.request_id.set("req-42")
    try:
        with tracer.start_as_current_span("PlaceOrder", kind=SpanKind.SERVER):
            row_headers = inject_headers()
    finally:
        request_context.request_id.reset(token)

    with publish_span(row_headers, "orders.placed", tracer=tracer) as sent:
        pass
    with consume_span(sent, "orders.placed", "read-model", delivery=2, tracer=tracer) as span:
        assert span.is_recording()
        assert request_context.request_id.get() == "req-42"
    assert request_context.request_id.get() is None

    found = by_name(exporter)
    request, publish = found["PlaceOrder"], found["publish orders.placed"]
    consume = found["process orders.placed"]
    assert {s.context.trace_id for s in (request, publish, consume)} == {request.context.trace_id}
    assert publish.parent is not None
    assert publish.parent.span_id == request.context.span_id
    assert consume.parent is not None
    assert consume.parent.span_id == publish.context.span_id
    assert (publish.kind, consume.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert consume.attributes is not None
    assert consume.attributes["messaging.nats.delivery_count"] == 2
    assert row_headers["x-request-id"] == sent["x-request-id"] == "req-42"
    assert sent["traceparent"] != row_headers["traceparent"]  # the publish span's own


def test_headers_carry_the_w3c_traceparent_of_the_current_span() -> None:
    spans, _ = provider()
    with spans.get_tracer("test").start_as_current_span("work") as span:
        headers = inject_headers()
    context = span.get_span_context()
    version, trace_id, parent_id, flags = headers.pop("traceparent").split("-")
    assert (version, trace_id) == ("00", format_trace_id(context.trace_id))
    assert parent_id == format_span_id(context.span_id)
    assert int(flags, 16) & 1  # sampled
    assert headers == {}


def test_outside_a_trace_there_is_nothing_to_carry() -> None:
    assert inject_headers() == {}
    assert extract_context({}) is None
    assert extract_context({"x-request-id": "r"}) is None


def test_a_message_without_trace_headers_starts_a_new_trace() -> None:
    spans, exporter = provider()
    with consume_span(None, "orders.placed", "read-model", tracer=spans.get_tracer("t")):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.parent is None


def test_an_unsampled_request_stays_unsampled_across_the_hop() -> None:
    spans, exporter = provider(rate=0.0)
    tracer = spans.get_tracer("test")
    with tracer.start_as_current_span("PlaceOrder", kind=SpanKind.SERVER):
        row_headers = inject_headers()
    assert not int(row_headers["traceparent"][-2:], 16) & 1  # propagated, marked not sampled
    with (
        publish_span(row_headers, "orders.placed", tracer=tracer) as sent,
        consume_span(sent, "orders.placed", "c", tracer=tracer) as span,
    ):
        assert not span.is_recording()
    assert exporter.get_finished_spans() == ()


def test_log_lines_of_a_consumed_event_carry_its_trace_and_request_ids() -> None:
    spans, _ = provider()
    tracer = spans.get_tracer("test")
    stream = io.StringIO()
    logs.configure("order", stream=stream, pretty=False)
    headers = {"x-request-id": "req-7"}
    with consume_span(headers, "orders.placed", "c", tracer=tracer) as span:
        logging.getLogger("services.order").info("handled")
    line = json.loads(stream.getvalue().splitlines()[-1])
    context = span.get_span_context()
    assert line["request_id"] == "req-7"
    assert line["trace_id"] == format_trace_id(context.trace_id)
    assert line["span_id"] == format_span_id(context.span_id)
