"""The sampler: callers' decisions win, new traces by ratio, lone CLIENT spans never."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from protomesh.telemetry.runtime import otlp_endpoint
from protomesh.telemetry.tracing import tracer_provider


def remote(sampled: bool) -> trace.Span:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags))


def test_the_callers_decision_wins_over_the_rate() -> None:
    exporter = InMemorySpanExporter()
    tracer = tracer_provider("user", 0.0, exporter, batch=False).get_tracer("t")
    with tracer.start_as_current_span("kept", context=trace.set_span_in_context(remote(True))):
        pass
    exporter_1 = InMemorySpanExporter()
    dropping = tracer_provider("user", 1.0, exporter_1, batch=False).get_tracer("t")
    parent = trace.set_span_in_context(remote(False))
    with dropping.start_as_current_span("dropped", context=parent):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["kept"]
    assert exporter_1.get_finished_spans() == ()


def test_new_traces_follow_the_rate_but_lone_client_spans_are_dropped() -> None:
    exporter = InMemorySpanExporter()
    tracer = tracer_provider("user", 1.0, exporter, batch=False).get_tracer("t")
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("GetUser", kind=SpanKind.SERVER),
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT),
    ):
        pass
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["GetUser", "SELECT"]


def test_the_endpoint_comes_from_the_service_then_the_standard_variable() -> None:
    standard = {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}
    assert otlp_endpoint("127.0.0.1:4317", standard) == "127.0.0.1:4317"
    assert otlp_endpoint(None, standard) == "collector:4317"
    assert otlp_endpoint(None, {}) is None
