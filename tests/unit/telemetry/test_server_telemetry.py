"""A real grpc.aio server with tracing (in-memory exporter) and metrics (a real /metrics port)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_trace_id
from prometheus_client.parser import text_string_to_metric_families
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh import logs
from protomesh.server import GrpcService, ServiceDefinition
from protomesh.settings import ServerSettings
from protomesh.telemetry.runtime import Telemetry
from protomesh.telemetry.tracing import tracer_provider
from services.user.bootstrap import registrations, utc_now
from services.user.validation import VALIDATORS
from tests.support import mesh_tls
from tests.support.policies import project_policies
from tests.unit.user.fakes import FakeMailer, InMemoryUsers

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@dataclass
class Served:
    service: GrpcService
    exporter: InMemorySpanExporter
    channel: grpc.aio.Channel
    log: io.StringIO

    @property
    def users(self) -> v1_grpc.UserServiceAsyncStub:
        return v1_grpc.UserServiceStub(self.channel)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        assert self.service.telemetry.metrics_server is not None
        port = self.service.telemetry.metrics_server.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


async def serve(rate: float, caller: str = "operator") -> Served:
    exporter = InMemorySpanExporter()
    provider = tracer_provider("user", rate, exporter, batch=False)
    telemetry = Telemetry("user", provider, metrics_port=0)
    users = InMemoryUsers()
    definition = ServiceDefinition(
        name="user",
        policies=project_policies("user"),
        registrations=registrations(users, users.unit_of_work, utc_now, FakeMailer()),
        validators=VALIDATORS,
    )
    settings = mesh_tls.with_identity(ServerSettings(port=0, grace_period=1))
    service = GrpcService(definition, settings, telemetry)
    port = await service.start()
    stream = io.StringIO()
    logs.configure("user", stream=stream, pretty=False)
    return Served(service, exporter, mesh_tls.aio_channel(f"127.0.0.1:{port}", caller), stream)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    running = await serve(rate=1.0)
    yield running
    await running.channel.close()
    await running.service.stop()
    logging.getLogger().handlers.clear()


async def counted(served: Served, code: str, expected: float, method: str = "GetUser") -> float:
    """The count once it reaches `expected` (or after 5 s).

    grpc.aio sends an aborted call's status before the interceptors unwind, so
    a client can hear of its failure an instant before the count goes up.
    """
    async with asyncio.timeout(5):
        while (found := requests(served, code, method)) < expected:
            await asyncio.sleep(0.01)
    return found


def requests(served: Served, code: str, method: str = "GetUser") -> float:
    key = (
        "rpc_server_requests_total",
        (("code", code), ("method", f"/shop.user.v1.UserService/{method}")),
    )
    return served.metrics().get(key, 0.0)


async def test_a_call_continues_the_callers_trace_with_rpc_attributes(served: Served) -> None:
    metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"), ("x-request-id", "req-1"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await served.users.GetUser(
            v1.GetUserRequest(user_id=str(uuid.uuid4())), metadata=metadata, timeout=5
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    # grpc.aio sends an aborted call's status before the interceptors unwind: wait for them.
    async with asyncio.timeout(5):
        while not (served.exporter.get_finished_spans() and "rpc_method" in served.log.getvalue()):
            await asyncio.sleep(0.01)
    (span,) = served.exporter.get_finished_spans()
    assert span.name == "shop.user.v1.UserService/GetUser"
    assert span.kind == SpanKind.SERVER
    assert format_trace_id(span.context.trace_id) == TRACE_ID
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert dict(span.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "shop.user.v1.UserService",
        "rpc.method": "GetUser",
        "rpc.grpc.status_code": grpc.StatusCode.NOT_FOUND.value[0],
    }
    assert span.status.status_code == StatusCode.UNSET  # the caller's mistake, not ours
    access = [json.loads(line) for line in served.log.getvalue().splitlines()]
    line = next(entry for entry in access if entry.get("rpc_method"))
    assert (line["trace_id"], line["request_id"]) == (TRACE_ID, "req-1")
    assert line["span_id"] == f"{span.context.span_id:016x}"


async def test_red_metrics_count_each_call_by_status_code(served: Served) -> None:
    before_ok, before_missing = requests(served, "OK"), requests(served, "NOT_FOUND")
    created = await served.users.CreateUser(
        v1.CreateUserRequest(email="ada@example.com", display_name="Ada"), timeout=5
    )
    await served.users.GetUser(v1.GetUserRequest(user_id=created.user.user_id), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError):
        await served.users.GetUser(v1.GetUserRequest(user_id=str(uuid.uuid4())), timeout=5)
    assert requests(served, "OK") == before_ok + 1
    assert await counted(served, "NOT_FOUND", before_missing + 1) == before_missing + 1
    histogram = (
        "rpc_server_duration_seconds_count",
        (("method", "/shop.user.v1.UserService/GetUser"),),
    )
    assert served.metrics()[histogram] >= 2


async def test_unsampled_calls_export_nothing_and_still_count() -> None:
    running = await serve(rate=0.0)
    try:
        before = requests(running, "INVALID_ARGUMENT")
        with pytest.raises(grpc.aio.AioRpcError):
            await running.users.GetUser(v1.GetUserRequest(user_id="not-a-uuid"), timeout=5)
        assert running.exporter.get_finished_spans() == ()
        assert await counted(running, "INVALID_ARGUMENT", before + 1) == before + 1
    finally:
        await running.channel.close()
        await running.service.stop()
        logging.getLogger().handlers.clear()


async def test_calls_the_sampler_drops_still_carry_a_trace_id_to_pass_on() -> None:
    running = await serve(rate=0.0)
    trace_id = "5" * 32
    unsampled = (("traceparent", f"00-{trace_id}-{PARENT_ID}-00"), ("x-request-id", "req-u"))
    try:
        with pytest.raises(grpc.aio.AioRpcError):
            await running.users.GetUser(v1.GetUserRequest(user_id="bad"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await running.users.GetUser(
                v1.GetUserRequest(user_id="bad"), metadata=unsampled, timeout=5
            )
        async with asyncio.timeout(5):
            while running.log.getvalue().count("rpc_method") < 2:
                await asyncio.sleep(0.01)
    finally:
        await running.channel.close()
        await running.service.stop()
        logging.getLogger().handlers.clear()
    assert running.exporter.get_finished_spans() == ()
    lines = [json.loads(line) for line in running.log.getvalue().splitlines()]
    new, continued = [line for line in lines if "rpc_method" in line]
    assert len(new["trace_id"]) == 32
    assert new["trace_id"] != "0" * 32
    assert continued["trace_id"] == trace_id  # the caller's trace, though not recorded
    assert continued["span_id"] != PARENT_ID


async def test_a_call_without_a_traceparent_starts_a_trace_the_sampler_keeps(
    served: Served,
) -> None:
    await served.users.CreateUser(
        v1.CreateUserRequest(email="new@example.com", display_name="New"), timeout=5
    )
    async with asyncio.timeout(5):
        while not served.exporter.get_finished_spans():
            await asyncio.sleep(0.01)
    (span,) = served.exporter.get_finished_spans()
    assert span.parent is None
    assert span.context.trace_flags.sampled
    line = next(json.loads(x) for x in served.log.getvalue().splitlines() if "rpc_method" in x)
    assert line["trace_id"] == format_trace_id(span.context.trace_id)


async def test_a_caller_the_registry_does_not_allow_is_traced_and_counted_as_denied() -> None:
    """The observers sit outside authorization: a refused caller is seen, with its code."""
    running = await serve(rate=1.0, caller=mesh_tls.STRANGER)
    try:
        before = requests(running, "PERMISSION_DENIED", "CreateUser")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await running.users.CreateUser(
                v1.CreateUserRequest(email="eve@example.com", display_name="Eve"), timeout=5
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        denied = await counted(running, "PERMISSION_DENIED", before + 1, "CreateUser")
        assert denied == before + 1
        async with asyncio.timeout(5):
            while not running.exporter.get_finished_spans():
                await asyncio.sleep(0.01)
    finally:
        await running.channel.close()
        await running.service.stop()
        logging.getLogger().handlers.clear()
    (span,) = running.exporter.get_finished_spans()
    assert span.name == "shop.user.v1.UserService/CreateUser"
    assert (span.attributes or {})["rpc.grpc.status_code"] == (
        grpc.StatusCode.PERMISSION_DENIED.value[0]
    )
