"""Client channels from the registry, against small in-process grpc.aio servers."""

from __future__ import annotations

import asyncio
import contextvars
import json
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protomesh import request_context, rotating_channel
from protomesh.channels import (
    call_timeout,
    channel_for,
    channel_options,
    service_config,
    target,
)
from protomesh.registry import Mesh, load_mesh, parse_mesh
from protomesh.rotating_channel import RotatingChannel
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsConfigurationError, TlsFiles
from protomesh.tls.server import server_credentials
from protomesh_toolkit.certs.issuance import ensure_certificates
from tests.support import mesh_tls

# These tests serve real gRPC in process, over mTLS with the session CA.
pytestmark = pytest.mark.usefixtures("mesh_certificates")

Unary = grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]  # no serializers: bytes both ways
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Replica:
    """A server that answers `/test.Replica/Name` with its name, and reports the budget it got."""

    name: str
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


async def start_replica(name: str) -> Replica:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)

    def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
        return name.encode()

    def budget(request: bytes, context: grpc.ServicerContext) -> bytes:
        return str(context.time_remaining()).encode()

    def caller_certificate(request: bytes, context: grpc.ServicerContext) -> bytes:
        pems: Any = context.auth_context().get("x509_pem_cert") or []  # list[bytes] at runtime
        return b"".join(bytes(pem) for pem in pems)

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Name": grpc.unary_unary_rpc_method_handler(answer),
        "Budget": grpc.unary_unary_rpc_method_handler(budget),
        "CallerCertificate": grpc.unary_unary_rpc_method_handler(caller_certificate),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Replica", handlers)]
    )
    port = server.add_secure_port("127.0.0.1:0", server_credentials(mesh_tls.files(mesh_tls.ECHO)))
    await server.start()
    await checks.set("", SERVING)
    return Replica(name, server, checks, port)


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    started = [await start_replica("a"), await start_replica("b")]
    yield started
    for replica in started:
        await replica.server.stop(None)


def mesh_of(ports: list[int]) -> Mesh:
    replicas = [{"port": {"local": port}} for port in ports]
    return parse_mesh(
        json.dumps(
            {
                "trust_domain": "protomesh.local",
                "environments": ["local"],
                "services": {
                    "echo": {
                        "module": "services.echo",
                        "env_prefix": "ECHO_",
                        "replicas": replicas,
                    }
                },
            }
        )
    )


async def names(channel: grpc.aio.Channel, calls: int) -> Counter[str]:
    call: Unary = channel.unary_unary("/test.Replica/Name")
    seen: Counter[str] = Counter()
    for _ in range(calls):
        reply: bytes = await call(b"", timeout=5)
        seen[reply.decode()] += 1
    return seen


async def wait_until_both_ready(channel: grpc.aio.Channel) -> None:
    """Connections come up one by one; until both are READY, round robin has one to pick."""
    async with asyncio.timeout(5):
        while len(await names(channel, 2)) < 2:
            await asyncio.sleep(0.02)


async def wait_until_only(channel: grpc.aio.Channel, name: str) -> None:
    """Health updates reach the channel asynchronously: poll, bounded."""
    async with asyncio.timeout(5):
        while set(await names(channel, 4)) != {name}:
            await asyncio.sleep(0.02)


async def test_calls_are_spread_over_every_replica_in_the_registry(
    replicas: list[Replica],
) -> None:
    mesh = mesh_of([r.port for r in replicas])
    async with channel_for("echo", mesh, "local", tls=mesh_tls.files()) as channel:
        await wait_until_both_ready(channel)
        seen = await names(channel, 20)
    assert seen == {"a": 10, "b": 10}


async def test_a_replica_that_turns_not_serving_gets_no_more_calls_and_back_when_serving(
    replicas: list[Replica],
) -> None:
    first, _ = replicas
    async with channel_for(
        "echo", mesh_of([r.port for r in replicas]), "local", tls=mesh_tls.files()
    ) as channel:
        await names(channel, 2)
        await first.health.set("", NOT_SERVING)
        await wait_until_only(channel, "b")
        assert await names(channel, 20) == {"b": 20}
        await first.health.set("", SERVING)
        async with asyncio.timeout(5):
            while "a" not in await names(channel, 4):
                await asyncio.sleep(0.02)


async def test_without_health_checking_a_not_serving_replica_still_gets_calls(
    replicas: list[Replica],
) -> None:
    """The control for the test above: it is the health check, not luck, that steers."""
    first, _ = replicas
    options = [*channel_options(), ("grpc.inhibit_health_checking", 1)]
    async with grpc.aio.secure_channel(
        target([r.address for r in replicas]),
        channel_credentials(mesh_tls.files()),
        options=[*options, *server_name_options(mesh_tls.ECHO)],
    ) as channel:
        await wait_until_both_ready(channel)
        await first.health.set("", NOT_SERVING)
        await asyncio.sleep(0.2)
        assert (await names(channel, 20))["a"] == 10


async def test_health_can_follow_one_named_service(replicas: list[Replica]) -> None:
    first, second = replicas
    for replica in replicas:
        await replica.health.set("test.Replica", SERVING)
    mesh = mesh_of([r.port for r in replicas])
    async with channel_for(
        "echo", mesh, "local", tls=mesh_tls.files(), health_service="test.Replica"
    ) as channel:
        await names(channel, 2)
        await second.health.set("test.Replica", NOT_SERVING)
        await wait_until_only(channel, first.name)


async def test_every_call_gets_the_default_timeout_when_it_brings_none(
    replicas: list[Replica],
) -> None:
    mesh = mesh_of([replicas[0].port])
    async with channel_for(
        "echo", mesh, "local", tls=mesh_tls.files(), default_timeout=3.0
    ) as channel:
        budget: Unary = channel.unary_unary("/test.Replica/Budget")
        without: bytes = await budget(b"")
        asked: bytes = await budget(b"", timeout=1.0)
    # grpc rounds the timeout it sends up a little (grpc-timeout has coarse units).
    assert float(without) == pytest.approx(3.0, abs=0.5)
    assert float(asked) == pytest.approx(1.0, abs=0.2)


async def test_an_outbound_call_inherits_the_deadline_of_the_request_it_serves(
    replicas: list[Replica],
) -> None:
    async def serve_a_request() -> float:
        request_context.set_deadline(0.5)  # as the server's deadline interceptor does
        async with channel_for(
            "echo", mesh_of([replicas[0].port]), "local", tls=mesh_tls.files()
        ) as channel:
            budget: Unary = channel.unary_unary("/test.Replica/Budget")
            reply = await budget(b"", timeout=30)
        return float(reply)

    # A task of its own: the request's context stays inside it, as in a server.
    assert await asyncio.create_task(serve_a_request()) == pytest.approx(0.5, abs=0.2)


def test_call_timeout_is_the_default_outside_a_request_and_bounded_inside_one() -> None:
    def inside() -> float:
        request_context.set_deadline(0.25)
        return call_timeout(10.0)

    assert call_timeout(10.0) == 10.0
    assert 0.0 < contextvars.copy_context().run(inside) <= 0.25


def test_service_config_balances_round_robin_over_healthy_replicas() -> None:
    assert json.loads(service_config("shop.user.v1.UserService")) == {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": "shop.user.v1.UserService"},
    }


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["127.0.0.1:50051"], "ipv4:127.0.0.1:50051"),
        (["127.0.0.1:1", "127.0.0.1:2"], "ipv4:127.0.0.1:1,127.0.0.1:2"),
        (["[::1]:1", "[::1]:2"], "ipv6:[::1]:1,[::1]:2"),
        (["user:50051"], "dns:///user:50051"),
        # Several host names (Compose's user-1, user-2) are resolved when the channel is made.
        (["localhost:1", "127.0.0.1:2"], "ipv4:127.0.0.1:1,127.0.0.1:2"),
    ],
)
def test_target_names_exactly_the_registry_addresses(addresses: list[str], expected: str) -> None:
    assert target(addresses) == expected


@pytest.mark.parametrize(
    ("addresses", "problem"),
    [
        ([], "no addresses"),
        (["no-such-replica.invalid:1", "localhost:2"], "cannot resolve 'no-such-replica"),
        (["127.0.0.1"], "is not host:port"),
        (["::1:50051"], r"\[addr\]:port"),
    ],
)
def test_target_refuses_what_no_resolver_can_balance(addresses: list[str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        target(addresses)


def test_an_unknown_service_or_environment_is_named_with_what_exists() -> None:
    mesh = mesh_of([50051])
    with pytest.raises(KeyError, match=r"no service 'usr'.*services: echo"):
        channel_for("usr", mesh, "local")
    with pytest.raises(KeyError, match=r"no environment 'prod'.*environments: local"):
        channel_for("echo", mesh, "prod")


async def test_a_channel_without_the_callers_certificate_is_refused_unless_the_mesh_is_insecure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Async: a grpc.aio channel belongs to the running loop (see test_grpc_service)."""
    mesh = mesh_of([50051])
    with pytest.raises(TlsConfigurationError, match=r"pass tls=config\.tls"):
        channel_for("echo", mesh, "local")
    monkeypatch.setenv("PROTOMESH_INSECURE", "1")
    channel = channel_for("echo", mesh, "local")
    assert not isinstance(channel, RotatingChannel)
    await channel.close()


async def test_a_rotated_client_certificate_is_used_for_new_calls_without_a_new_channel(
    replicas: list[Replica], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotate the caller's files under an open channel: later calls present the new cert."""
    monkeypatch.setattr(rotating_channel, "CHECK_INTERVAL", 0.0)
    mesh = load_mesh()
    certs = shutil.copytree(mesh_tls.directory(), tmp_path / "certs", symlinks=True)
    own = TlsFiles.of(certs, "operator")
    async with channel_for("echo", mesh_of([replicas[0].port]), "local", tls=own) as channel:
        caller_certificate: Unary = channel.unary_unary("/test.Replica/CallerCertificate")
        before = await caller_certificate(b"", timeout=5)
        assert before == (certs / "operator.crt").read_bytes()
        ensure_certificates(mesh, certs, rotate=True)
        after = await caller_certificate(b"", timeout=5)
    assert after == (certs / "operator.crt").read_bytes()
    assert after != before


async def test_a_refused_handshake_is_logged_with_the_target_by_the_caller(
    replicas: list[Replica], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A certificate from another CA: the server refuses it, and the caller says so."""
    mesh = load_mesh()
    foreign = tmp_path / "foreign"
    ensure_certificates(mesh, foreign)  # a CA of its own, which the replicas do not trust
    own = TlsFiles(foreign / "operator.crt", foreign / "operator.key", mesh_tls.files().ca)
    async with channel_for("echo", mesh_of([replicas[0].port]), "local", tls=own) as channel:
        name: Unary = channel.unary_unary("/test.Replica/Name")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await name(b"", timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert any(
        "connection to echo refused in the TLS handshake" in record.getMessage()
        for record in caplog.records
    )
