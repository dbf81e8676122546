"""Readiness with a dependency the service can serve without (NATS behind an outbox)."""

from __future__ import annotations

import asyncio

import pytest
from grpc_health.v1 import health, health_pb2

from protomesh.nats_probe import NatsProbe
from protomesh.readiness import RECHECK_WHILE_FAILING, ReadinessCheck, ReadinessMonitor

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Switch:
    def __init__(self) -> None:
        self.up = True

    async def __call__(self) -> None:
        if not self.up:
            raise ConnectionError("down")


async def status(servicer: health.aio.HealthServicer, name: str) -> int:
    reply = await servicer.Check(health_pb2.HealthCheckRequest(service=name), None)  # type: ignore[arg-type]
    return reply.status


async def test_an_optional_dependency_is_reported_on_its_own_name_only() -> None:
    servicer = health.aio.HealthServicer()
    database, nats = Switch(), Switch()
    monitor = ReadinessMonitor(
        servicer,
        ["shop.order.v1.OrderService"],
        [ReadinessCheck("postgres", database), ReadinessCheck("nats", nats, required=False)],
        interval=60,
    )
    assert await monitor.check_once()
    assert [await status(servicer, n) for n in ("", "nats")] == [SERVING, SERVING]

    nats.up = False
    assert await monitor.check_once()
    assert await status(servicer, "") == SERVING
    assert await status(servicer, "shop.order.v1.OrderService") == SERVING
    assert await status(servicer, "nats") == NOT_SERVING

    database.up = False
    assert not await monitor.check_once()
    assert await status(servicer, "") == NOT_SERVING

    database.up, nats.up = True, True
    assert await monitor.check_once()
    assert [await status(servicer, n) for n in ("", "nats")] == [SERVING, SERVING]


async def test_the_nats_probe_wants_a_nats_greeting() -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        writer.close()

    greeting = b'INFO {"server_id":"x"}\r\n'
    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await NatsProbe(f"nats://127.0.0.1:{port},nats://elsewhere:4222")()
        greeting = b"HTTP/1.1 400 Bad Request\r\n"
        with pytest.raises(ConnectionError, match="NATS"):
            await NatsProbe(f"nats://127.0.0.1:{port}")()


async def test_a_required_dependency_that_is_down_is_checked_again_sooner() -> None:
    servicer = health.aio.HealthServicer()
    database, nats = Switch(), Switch()
    monitor = ReadinessMonitor(
        servicer,
        [],
        [ReadinessCheck("postgres", database), ReadinessCheck("nats", nats, required=False)],
        interval=60,
    )
    nats.up = False
    await monitor.check_once()
    assert monitor.next_check_in() == 60  # an optional one down changes nothing

    database.up = False
    await monitor.check_once()
    assert monitor.next_check_in() == RECHECK_WHILE_FAILING
    monitor.start()
    try:
        database.up = True
        for _ in range(100):  # well before the 60 s interval: the loop looked again
            if await status(servicer, "") == SERVING:
                break
            await asyncio.sleep(0.05)
        assert await status(servicer, "") == SERVING
        assert monitor.next_check_in() == 60
    finally:
        await monitor.stop()
