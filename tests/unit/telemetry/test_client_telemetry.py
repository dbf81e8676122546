"""A call through `channel_for` is a CLIENT span between the caller's span and the server's,
and is counted by method and status code — over mutual TLS, before and after the caller's
certificate is rotated (the fresh connection a RotatingChannel makes keeps the interceptors)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh import rotating_channel
from protomesh.channels import channel_for
from protomesh.registry import Mesh, load_mesh, parse_mesh
from protomesh.rotating_channel import RotatingChannel
from protomesh.server import GrpcService, ServiceDefinition
from protomesh.settings import ServerSettings
from protomesh.telemetry.runtime import Telemetry
from protomesh.telemetry.tracing import tracer_provider
from protomesh.tls.files import TlsFiles
from protomesh_toolkit.certs.issuance import ensure_certificates
from services.user.bootstrap import registrations, utc_now
from services.user.validation import VALIDATORS
from tests.support import mesh_tls
from tests.support.policies import project_policies
from tests.unit.user.fakes import FakeMailer, InMemoryUsers

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")

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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("order", 1.0, exporter, batch=False)
    # The process's provider, as `Telemetry.from_settings` installs it; restored afterwards.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.setattr(rotating_channel, "CHECK_INTERVAL", 0.0)
    users = InMemoryUsers()
    served = registrations(users, users.unit_of_work, utc_now, FakeMailer())
    definition = ServiceDefinition(
        name="user", policies=project_policies("user"), registrations=served, validators=VALIDATORS
    )
    settings = mesh_tls.with_identity(ServerSettings(port=0))
    service = GrpcService(definition, settings, Telemetry("user", provider))
    port = await service.start()
    # The order service's own certificate (mesh.yaml lets order call GetUser), in a
    # directory of its own so that rotating it leaves the server's files alone.
    certs = shutil.copytree(mesh_tls.directory(), tmp_path / "certs", symlinks=True)
    before = client_calls("NOT_FOUND")
    channel = channel_for("user", mesh_of(port), "local", tls=TlsFiles.of(certs, "order"))
    assert isinstance(channel, RotatingChannel)
    codes = []
    try:
        for rotate in (False, True):
            if rotate:  # the next call goes out on a fresh connection with the new certificate
                ensure_certificates(load_mesh(), certs, rotate=True)
            with (
                provider.get_tracer("test").start_as_current_span("PlaceOrder"),
                pytest.raises(grpc.aio.AioRpcError) as raised,
            ):
                await v1_grpc.UserServiceStub(channel).GetUser(
                    v1.GetUserRequest(user_id=str(uuid.uuid4()))
                )
            codes.append(raised.value.code())
    finally:
        await channel.close()
        await service.stop()
    assert codes == [grpc.StatusCode.NOT_FOUND] * 2
    spans = exporter.get_finished_spans()
    for caller in [span for span in spans if span.kind == SpanKind.INTERNAL]:
        trace_spans = {s.kind: s for s in spans if s.context.trace_id == caller.context.trace_id}
        client, server = trace_spans[SpanKind.CLIENT], trace_spans[SpanKind.SERVER]
        assert client.parent is not None
        assert client.parent.span_id == caller.context.span_id
        assert server.parent is not None
        assert server.parent.span_id == client.context.span_id
    assert len([span for span in spans if span.kind == SpanKind.INTERNAL]) == 2
    assert client_calls("NOT_FOUND") == before + 2
