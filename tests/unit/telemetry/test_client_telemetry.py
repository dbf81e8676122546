"""A call through `channel_for` is a CLIENT span between the caller's span and the server's,
and is counted by method and status code."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.channels import channel_for
from protomesh.registry import Mesh, parse_mesh
from protomesh.server import GrpcService, ServiceDefinition
from protomesh.settings import ServerSettings
from protomesh.telemetry.runtime import Telemetry
from protomesh.telemetry.tracing import tracer_provider
from services.user.bootstrap import registrations, utc_now
from services.user.validation import VALIDATORS
from tests.unit.user.fakes import InMemoryUserStore

GET_USER = "/shop.user.v1.UserService/GetUser"


def mesh_of(port: int) -> Mesh:
    service = {"module": "services.user", "env_prefix": "USER_SERVICE_", "port": {"local": port}}
    document = {
        "trust_domain": "protomesh.local",
        "environments": ["local"],
        "services": {"user": service},
    }
    return parse_mesh(json.dumps(document))


def client_calls(code: str) -> float:
    found = REGISTRY.get_sample_value(
        "rpc_client_requests_total", {"method": GET_USER, "code": code}
    )
    return found or 0.0


async def test_an_outgoing_call_joins_the_callers_trace_and_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("order", 1.0, exporter, batch=False)
    # The process's provider, as `Telemetry.from_settings` installs it; restored afterwards.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    served = registrations(InMemoryUserStore(), utc_now)
    definition = ServiceDefinition(name="user", registrations=served, validators=VALIDATORS)
    service = GrpcService(definition, ServerSettings(port=0), Telemetry("user", provider))
    port = await service.start()
    before = client_calls("NOT_FOUND")
    channel = channel_for("user", mesh_of(port), "local")
    try:
        with (
            provider.get_tracer("test").start_as_current_span("PlaceOrder"),
            pytest.raises(grpc.aio.AioRpcError) as raised,
        ):
            await v1_grpc.UserServiceStub(channel).GetUser(
                v1.GetUserRequest(user_id=str(uuid.uuid4()))
            )
    finally:
        await channel.close()
        await service.stop()
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    spans = {span.kind: span for span in exporter.get_finished_spans()}
    caller, client, server = (
        spans[SpanKind.INTERNAL],
        spans[SpanKind.CLIENT],
        spans[SpanKind.SERVER],
    )
    assert {caller.context.trace_id, client.context.trace_id} == {server.context.trace_id}
    assert client.parent is not None
    assert client.parent.span_id == caller.context.span_id
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id
    assert client_calls("NOT_FOUND") == before + 1
