"""The runtime around a real grpc.aio server, with the user store replaced by a fake."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh.logs import stamp_request_ids
from protomesh.readiness import ReadinessCheck
from protomesh.server import GrpcService, ServiceDefinition
from protomesh.settings import ServerSettings
from protomesh.tls.files import TlsConfigurationError
from services.user.bootstrap import registrations, utc_now
from services.user.domain import User
from services.user.validation import VALIDATORS
from tests.support import mesh_tls
from tests.support.grpc_calls import field_violations, health_async
from tests.support.policies import project_policies
from tests.support.ports import free_port
from tests.unit.services.user.fakes import FakeMailer, InMemoryUsers

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")

SERVING, NOT_SERVING = "SERVING", "NOT_SERVING"


class GatedStore(InMemoryUsers):
    """Reads wait at a gate the test opens, to hold calls in flight; or blow up."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = 0
        self.explode = False

    async def get(self, user_id: uuid.UUID) -> User | None:
        if self.explode:
            raise RuntimeError("secret internal detail")
        self.entered += 1
        await self.gate.wait()
        return await super().get(user_id)


@dataclass
class Running:
    service: GrpcService
    store: GatedStore
    channel: grpc.aio.Channel
    dependency_up: list[bool]

    @property
    def users(self) -> v1_grpc.UserServiceAsyncStub:
        return v1_grpc.UserServiceStub(self.channel)

    async def health(self, name: str = "") -> str:
        return await health_async(self.channel, name)


async def start(settings: ServerSettings) -> Running:
    store = GatedStore()
    dependency_up = [True]

    async def probe() -> None:
        if not dependency_up[0]:
            raise ConnectionError("down")

    store = GatedStore()
    definition = ServiceDefinition(
        name="user",
        policies=project_policies("user"),
        registrations=registrations(store, store.unit_of_work, utc_now, FakeMailer()),
        validators=VALIDATORS,
        readiness_checks=[ReadinessCheck("fake-db", probe)],
    )
    service = GrpcService(definition, mesh_tls.with_identity(settings))
    port = await service.start()
    channel = mesh_tls.aio_channel(f"127.0.0.1:{port}")
    return Running(service, store, channel, dependency_up)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    started = await start(ServerSettings(port=0, readiness_interval=0.05, grace_period=5))
    yield started
    await started.channel.close()
    await started.service.stop()


async def create(running: Running, email: str = "ada@example.com") -> str:
    reply = await running.users.CreateUser(
        v1.CreateUserRequest(email=email, display_name="Ada"), timeout=2
    )
    return reply.user.user_id


async def wait_for(condition: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    async with asyncio.timeout(within):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_reflection_lists_both_versions_and_health(running: Running) -> None:
    # The reflection stubs are typed for sync channels only.
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(running.channel)  # type: ignore[arg-type]
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in response.list_services_response.service}
        break
    assert {
        "shop.user.v1.UserService",
        "shop.user.v2.UserService",
        "grpc.health.v1.Health",
    } <= names


async def test_health_is_reported_overall_and_per_service(running: Running) -> None:
    assert await running.health("") == SERVING
    assert await running.health("shop.user.v2.UserService") == SERVING


async def test_readiness_follows_the_dependency_down_and_back(running: Running) -> None:
    running.dependency_up[0] = False
    await wait_for(lambda: _is(running, NOT_SERVING))
    running.dependency_up[0] = True
    await wait_for(lambda: _is(running, SERVING))


async def _is(running: Running, status: str) -> bool:
    return await running.health("shop.user.v1.UserService") == status


async def test_invalid_requests_get_field_violations_in_the_status(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.users.CreateUser(v1.CreateUserRequest(email="nope"), timeout=2)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == ["email", "display_name"]
    assert running.store.users == {}


async def test_unexpected_errors_are_internal_without_leaking_details(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.store.explode = True
    metadata = (("x-request-id", "req-123"),)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.users.GetUser(v1.GetUserRequest(user_id=str(uuid.uuid4())), metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error (request id req-123)"
    assert "secret internal detail" in caplog.text  # kept in our logs, not sent


async def test_the_callers_request_id_reaches_the_access_log(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    stamp_request_ids()
    caplog.set_level(logging.INFO, logger="protomesh.access")
    user_id = await create(running)
    await running.users.GetUser(
        v1.GetUserRequest(user_id=user_id), metadata=(("x-request-id", "abc-42"),)
    )
    lines = [r for r in caplog.records if getattr(r, "rpc_method", "").endswith("/GetUser")]
    assert [getattr(r, "request_id", None) for r in lines] == ["abc-42"]
    assert [getattr(r, "grpc_code", None) for r in lines] == ["OK"]


async def test_calls_without_a_deadline_get_the_default_budget() -> None:
    started = await start(ServerSettings(port=0, default_timeout=0.2))
    try:
        user_id = await create(started)
        started.store.gate.clear()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await started.users.GetUser(v1.GetUserRequest(user_id=user_id))
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        started.store.gate.set()
        await started.channel.close()
        await started.service.stop()


async def test_shutdown_finishes_calls_in_flight_and_refuses_new_ones() -> None:
    started = await start(ServerSettings(port=0, grace_period=5, shutdown_delay=0.3))
    try:
        user_id = await create(started)
        started.store.gate.clear()
        in_flight = [
            asyncio.ensure_future(
                started.users.GetUser(v1.GetUserRequest(user_id=user_id), timeout=5)
            )
            for _ in range(5)
        ]
        await wait_for(lambda: _entered(started, 5))
        stopping = asyncio.ensure_future(started.service.stop())
        await asyncio.sleep(0.1)  # inside the shutdown delay: still answering, but NOT_SERVING
        assert await started.health() == NOT_SERVING
        await asyncio.sleep(0.3)  # past the delay: the server takes no new calls
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await started.users.GetUser(v1.GetUserRequest(user_id=user_id), timeout=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        started.store.gate.set()
        replies = await asyncio.gather(*in_flight)
        assert {r.user.user_id for r in replies} == {user_id}
        await stopping
    finally:
        started.store.gate.set()
        await started.channel.close()
        await started.service.stop()


async def _entered(running: Running, count: int) -> bool:
    return running.store.entered >= count


async def test_a_service_without_certificates_refuses_to_start_unless_the_mesh_is_insecure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Async: grpc.aio builds its server on the running loop, not on a global default one
    (which an earlier `asyncio.run` in the session leaves unset)."""
    definition = ServiceDefinition(name="user", policies=project_policies("user"), registrations=[])
    monkeypatch.delenv("PROTOMESH_INSECURE", raising=False)
    with pytest.raises(TlsConfigurationError, match="no TLS certificate configured"):
        GrpcService(definition, ServerSettings(port=0))
    monkeypatch.setenv("PROTOMESH_INSECURE", "1")
    assert GrpcService(definition, mesh_tls.with_identity(ServerSettings(port=0))).tls is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "user"])
async def test_the_insecure_switch_refuses_any_address_but_loopback(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("PROTOMESH_INSECURE", "1")
    definition = ServiceDefinition(name="user", policies=project_policies("user"), registrations=[])
    with pytest.raises(TlsConfigurationError, match="listens on loopback only"):
        GrpcService(definition, ServerSettings(host=host, port=0))
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert GrpcService(definition, ServerSettings(host=loopback, port=0)).insecure


async def test_the_insecure_switch_serves_plaintext_and_says_so_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PROTOMESH_INSECURE", "1")
    store = GatedStore()
    definition = ServiceDefinition(
        name="user",
        policies=project_policies("user"),
        registrations=registrations(store, store.unit_of_work, utc_now, FakeMailer()),
    )
    service = GrpcService(definition, ServerSettings(port=0))
    with caplog.at_level(logging.WARNING, logger="protomesh.server"):
        port = await service.start()
    try:
        assert any("PROTOMESH_INSECURE=1: mTLS is OFF" in r.getMessage() for r in caplog.records)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await health_async(channel) == SERVING
    finally:
        await service.stop()


async def test_health_never_says_serving_before_the_first_readiness_check() -> None:
    """grpc's HealthServicer starts at SERVING: the port must not answer until a check ran."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def database_down() -> None:
        entered.set()
        await release.wait()
        raise ConnectionError("down")

    store = GatedStore()
    definition = ServiceDefinition(
        name="user",
        policies=project_policies("user"),
        registrations=registrations(store, store.unit_of_work, utc_now, FakeMailer()),
        validators=VALIDATORS,
        readiness_checks=[ReadinessCheck("fake-db", database_down, timeout=10)],
    )
    port = free_port()
    settings = ServerSettings(port=port, readiness_interval=60)
    service = GrpcService(definition, mesh_tls.with_identity(settings))
    starting = asyncio.create_task(service.start())
    try:
        await asyncio.wait_for(entered.wait(), 5)
        async with mesh_tls.aio_channel(f"127.0.0.1:{port}") as early:
            with pytest.raises(grpc.aio.AioRpcError) as during_check:
                await health_async(early)  # the port is bound but does not answer yet
        no_answer = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        assert during_check.value.code() in no_answer
        release.set()
        await asyncio.wait_for(starting, 10)
        async with mesh_tls.aio_channel(f"127.0.0.1:{port}") as channel:
            assert await health_async(channel) == NOT_SERVING
    finally:
        release.set()
        await asyncio.gather(starting, return_exceptions=True)
        await service.stop()
