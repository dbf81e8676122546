"""Client spans on mesh channels: none (and nothing loaded) until a tracer provider is
installed, then the instrumentation's CLIENT span on every call, for channels made before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from protomesh.telemetry import client_spans
from protomesh.telemetry.tracing import tracer_provider


@pytest.fixture
async def port() -> AsyncIterator[int]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    bound = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield bound
    await server.stop(None)


async def check(channel: grpc.aio.Channel) -> int:
    call = channel.unary_unary(  # HealthStub's stubs are untyped
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    reply = await call(health_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


async def test_calls_pass_straight_on_until_tracing_is_installed_then_get_client_spans(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    interceptors = client_spans.deferred_client_spans()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors)
    async with channel:
        assert not client_spans.tracing_installed()
        assert await check(channel) == health_pb2.HealthCheckResponse.SERVING
        first = interceptors[client_spans.UNARY_UNARY]
        assert isinstance(first, client_spans.UnaryUnarySpans)
        assert first._delegate() is None  # nothing loaded: no provider

        # `runtime.install` after the channel was made (a process-wide provider; faked here
        # so this test leaves the real global alone).
        exporter = InMemorySpanExporter()
        provider = tracer_provider("order", 1.0, exporter, batch=False)
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
        assert client_spans.tracing_installed()
        # Inside a request's span (the mesh sampler drops a CLIENT span with no parent).
        with provider.get_tracer("test").start_as_current_span("PlaceOrder", kind=SpanKind.SERVER):
            assert await check(channel) == health_pb2.HealthCheckResponse.SERVING

    spans = {span.name: span for span in exporter.get_finished_spans()}
    client = spans["/grpc.health.v1.Health/Check"]
    assert client.kind == SpanKind.CLIENT
    assert client.parent is not None
    assert client.parent.span_id == spans["PlaceOrder"].context.span_id
