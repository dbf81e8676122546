"""The durable consumer against a real `nats-server -js`: ack, retry, park, resume."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy
from shop.order.events.v1 import events_pb2

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer, Handler, Rejected
from protomesh.bus.dead_letters import DELIVERIES, ORIGINAL_MSG_ID, REASON
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.bus.streams import DEAD_LETTERS, StreamSpec
from tests.support.consumers import dead_letters, eventually, publish_event
from tests.support.metrics import sample
from tests.support.nats import Nats, declare, start_nats, unique_stream

pytestmark = pytest.mark.integration

TYPES = EventTypes([events_pb2.OrderPlaced, events_pb2.OrderCancelled])


@dataclass
class Bus:
    client: Client
    js: JetStreamContext
    stream: StreamSpec

    @property
    def prefix(self) -> str:
        return self.stream.subjects[0].removesuffix(".>")

    @property
    def placed_subject(self) -> str:
        return f"{self.prefix}.v1.OrderPlaced"

    def spec(self, durable: str = "test-consumer", **changes: Any) -> ConsumerSpec:
        """Quick pacing for tests: three deliveries, short backoff and fetch wait."""
        quick = ConsumerSpec(
            stream=self.stream.name,
            durable=durable,
            filter_subject=self.stream.subjects[0],
            max_deliver=3,
            backoff=(0.2, 0.4),
            fetch_wait=0.3,
        )
        return dataclasses.replace(quick, **changes)

    async def publish(self, order_id: str, schema_version: str = "1") -> str:
        return await publish_event(
            self.js,
            self.placed_subject,
            events_pb2.OrderPlaced(order_id=order_id, customer_id="c"),
            schema_version=schema_version,
        )


@pytest.fixture
async def bus(nats: Nats) -> AsyncIterator[Bus]:
    client, js = await nats.jetstream("consumer-tests")
    stream = unique_stream("order")
    await declare(client, stream, DEAD_LETTERS)
    try:
        yield Bus(client, js, stream)
    finally:
        await client.close()


@dataclass
class Recorder:
    """A handler that records every call and fails as told."""

    fail: Callable[[DecodedEvent], bool] = lambda event: False
    calls: list[tuple[str, int, float]] = field(default_factory=list)

    async def __call__(self, event: DecodedEvent) -> None:
        assert isinstance(event.message, events_pb2.OrderPlaced)
        self.calls.append((event.message.order_id, event.delivery, time.monotonic()))
        if self.fail(event):
            raise RuntimeError(f"refusing {event.message.order_id}")

    def handled(self, order_id: str) -> list[int]:
        return [delivery for seen, delivery, _ in self.calls if seen == order_id]


@pytest.fixture
async def running() -> AsyncIterator[list[DurableConsumer]]:
    """Consumers a test starts; stopped however the test ends."""
    consumers: list[DurableConsumer] = []
    yield consumers
    for consumer in consumers:
        await consumer.stop()


async def start(
    running: list[DurableConsumer], bus: Bus, handler: Handler, spec: ConsumerSpec | None = None
) -> DurableConsumer:
    """Start a consumer and wait until JetStream holds it."""
    consumer = DurableConsumer(bus.client, spec or bus.spec(), TYPES, handler)
    running.append(consumer)
    await consumer.start()
    async with asyncio.timeout(10):
        await consumer.wait_attached()
    return consumer


async def settled(bus: Bus, durable: str = "test-consumer") -> bool:
    """Every message delivered and acknowledged (or terminated)."""
    info = await bus.js.consumer_info(bus.stream.name, durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_handled_events_are_acked_once_in_order(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    handler = Recorder()
    await start(running, bus, handler)
    for order_id in ("o1", "o2", "o3"):
        await bus.publish(order_id)

    await eventually(lambda: settled(bus))
    assert [call[:2] for call in handler.calls] == [("o1", 1), ("o2", 1), ("o3", 1)]
    info = await bus.js.consumer_info(bus.stream.name, "test-consumer")
    assert info.ack_floor.stream_seq == 3
    assert info.config.ack_policy == AckPolicy.EXPLICIT


async def test_a_failing_handler_gets_the_event_again_with_backoff(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    handler = Recorder(fail=lambda event: event.delivery < 3)
    await start(running, bus, handler, bus.spec(max_deliver=5, backoff=(0.3, 0.6)))
    await bus.publish("flaky")

    await eventually(lambda: settled(bus))
    assert handler.handled("flaky") == [1, 2, 3]
    times = [at for _, _, at in handler.calls]
    # JetStream holds a nak(delay) back at least that long: the gaps grow with the backoff.
    assert times[1] - times[0] >= 0.3 * 0.9
    assert times[2] - times[1] >= 0.6 * 0.9


async def test_poison_messages_are_parked_with_a_reason_and_the_next_event_is_handled(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    handler = Recorder()
    await start(running, bus, handler)
    garbage_id = "garbage-1"
    await bus.js.publish(
        bus.placed_subject,
        b"not protobuf",
        headers={
            "Nats-Msg-Id": garbage_id,
            "ce-id": garbage_id,
            "ce-type": "shop.order.events.v1.OrderPlaced",
            "schema-version": "1",
        },
    )
    future_id = await bus.publish("from-the-future", schema_version="2")
    await bus.publish("good")

    await eventually(lambda: settled(bus))
    assert handler.handled("good") == [1]
    assert handler.handled("from-the-future") == []
    parked = await dead_letters(bus.js, f"dlq.{bus.prefix}.>", expected=2)
    reasons = {msg.headers[ORIGINAL_MSG_ID]: msg.headers[REASON] for msg in parked if msg.headers}
    assert "not a valid shop.order.events.v1.OrderPlaced" in reasons[garbage_id]
    assert "unknown major schema version 2" in reasons[future_id]
    assert {msg.subject for msg in parked} == {f"dlq.{bus.placed_subject}"}
    assert any(msg.data == b"not protobuf" for msg in parked)


async def test_a_handler_failing_past_max_deliveries_is_dead_lettered(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    handler = Recorder(fail=lambda event: event.message.order_id == "doomed")  # type: ignore[attr-defined]
    spec = bus.spec(max_deliver=3, backoff=(0.1,))
    redelivered = sample("consumer_redeliveries_total", consumer=spec.durable)
    parked_before = sample("consumer_dead_letters_total", consumer=spec.durable)
    await start(running, bus, handler, spec)
    doomed = await bus.publish("doomed")
    await bus.publish("fine")

    await eventually(lambda: settled(bus))
    assert handler.handled("doomed") == [1, 2, 3]
    assert handler.handled("fine") == [1]
    # Deliveries 2 and 3 of the doomed event were redeliveries; it was parked once.
    assert sample("consumer_redeliveries_total", consumer=spec.durable) - redelivered == 2
    assert sample("consumer_dead_letters_total", consumer=spec.durable) - parked_before == 1
    [parked] = await dead_letters(bus.js, f"dlq.{bus.prefix}.>", expected=1)
    assert parked.headers is not None
    assert parked.headers[ORIGINAL_MSG_ID] == doomed
    assert parked.headers[DELIVERIES] == "3"
    assert "handler failed on all 3 deliveries" in parked.headers[REASON]
    assert "refusing doomed" in parked.headers[REASON]


async def test_a_rejected_event_is_parked_at_once(bus: Bus, running: list[DurableConsumer]) -> None:
    calls: list[str] = []

    async def reject(event: DecodedEvent) -> None:
        calls.append(event.id)
        raise Rejected("no such customer, ever")

    await start(running, bus, reject)
    event_id = await bus.publish("rejected")

    await eventually(lambda: settled(bus))
    assert calls == [event_id]
    [parked] = await dead_letters(bus.js, f"dlq.{bus.prefix}.>", expected=1)
    assert parked.headers is not None
    assert parked.headers[REASON] == "rejected by the handler: no such customer, ever"


async def test_a_restarted_consumer_resumes_from_its_durable_position(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    first = Recorder()
    consumer = await start(running, bus, first)
    await bus.publish("before-1")
    await bus.publish("before-2")
    await eventually(lambda: settled(bus))
    await consumer.stop()

    await bus.publish("while-down")
    second = Recorder()
    await start(running, bus, second)
    await bus.publish("after")

    await eventually(lambda: settled(bus))
    assert [call[0] for call in first.calls] == ["before-1", "before-2"]
    assert [call[0] for call in second.calls] == ["while-down", "after"]


async def test_stop_finishes_the_event_in_hand_and_hands_back_the_rest(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(event: DecodedEvent) -> None:
        assert isinstance(event.message, events_pb2.OrderPlaced)
        if event.message.order_id == "slow":
            entered.set()
            await release.wait()
        finished.append(event.message.order_id)

    for order_id in ("slow", "next-1", "next-2"):
        await bus.publish(order_id)
    consumer = DurableConsumer(bus.client, bus.spec(), TYPES, slow)
    running.append(consumer)
    await consumer.start()
    async with asyncio.timeout(10):
        await entered.wait()
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # it waits for the event in hand
    release.set()
    async with asyncio.timeout(10):
        await stopping
    assert finished == ["slow"]

    resumed = Recorder()
    await start(running, bus, resumed)
    await eventually(lambda: settled(bus))
    assert [call[0] for call in resumed.calls] == ["next-1", "next-2"]


async def test_a_consumer_started_before_its_stream_exists_attaches_when_it_appears(
    nats: Nats, running: list[DurableConsumer]
) -> None:
    client, js = await nats.jetstream("early-consumer")
    try:
        stream = unique_stream("order")
        bus = Bus(client, js, stream)
        handler = Recorder()
        consumer = DurableConsumer(client, bus.spec(), TYPES, handler)
        running.append(consumer)
        await consumer.start()
        await asyncio.sleep(0.5)  # a few failed attempts to declare it
        await declare(client, stream, DEAD_LETTERS)
        async with asyncio.timeout(10):
            await consumer.wait_attached()
        await bus.publish("late-stream")
        await eventually(lambda: settled(bus))
        assert handler.handled("late-stream") == [1]
    finally:
        try:
            for consumer in running:
                await consumer.stop()
            running.clear()
        finally:
            await client.close()


async def test_a_consumer_given_a_url_waits_for_nats_connects_and_closes_on_stop(
    tmp_path: Path,
) -> None:
    server = start_nats(tmp_path)
    server.stop()
    stream = unique_stream("order")
    handler = Recorder()
    spec = ConsumerSpec(
        stream=stream.name, durable="own-connection", filter_subject=stream.subjects[0]
    )
    consumer = DurableConsumer(server.url, spec, TYPES, handler)
    await consumer.start()  # returns at once, though NATS is down
    try:
        server.start()
        client, js = await server.jetstream("publisher")
        try:
            await declare(client, stream, DEAD_LETTERS)
            bus = Bus(client, js, stream)
            async with asyncio.timeout(20):
                await consumer.wait_attached()
            await bus.publish("waited")
            await eventually(lambda: settled(bus, "own-connection"))
            assert handler.handled("waited") == [1]
            async with asyncio.timeout(10):
                await consumer.stop()

            async def connection_closed() -> bool:
                listing = await client.request("$SYS.REQ.SERVER.PING.CONNZ", b"", timeout=2)
                assert b"publisher" in listing.data  # the listing names connections
                return b"own-connection" not in listing.data

            await eventually(connection_closed)
        finally:
            await client.close()
    finally:
        try:
            await consumer.stop()
        finally:
            server.stop()


async def test_stop_returns_while_nats_is_still_away(tmp_path: Path) -> None:
    server = start_nats(tmp_path)
    server.stop()
    spec = ConsumerSpec(stream="NOWHERE", durable="never-attached", filter_subject="x.>")
    consumer = DurableConsumer(server.url, spec, TYPES, Recorder())
    await consumer.start()
    await asyncio.sleep(0.3)
    async with asyncio.timeout(5):
        await consumer.stop()


async def publish_and_settle(server: Nats, stream: StreamSpec, order_id: str) -> None:
    client, js = await server.jetstream("publisher")
    try:
        bus = Bus(client, js, stream)
        await bus.publish(order_id)
        await eventually(lambda: settled(bus, "survivor"), within=30)
    finally:
        await client.close()


async def test_the_consumer_keeps_going_after_nats_restarts(tmp_path: Path) -> None:
    server = start_nats(tmp_path)
    stream = unique_stream("order")
    handler = Recorder()
    spec = ConsumerSpec(
        stream=stream.name, durable="survivor", filter_subject=stream.subjects[0], fetch_wait=0.3
    )
    consumer = DurableConsumer(server.url, spec, TYPES, handler)
    try:
        client = await server.connect("setup")
        await declare(client, stream, DEAD_LETTERS)
        await client.close()
        await consumer.start()
        async with asyncio.timeout(10):
            await consumer.wait_attached()

        await publish_and_settle(server, stream, "before-restart")
        server.stop()  # the store is kept: streams, consumer state and messages survive
        server.start()
        await publish_and_settle(server, stream, "after-restart")
        assert [call[:2] for call in handler.calls] == [
            ("before-restart", 1),
            ("after-restart", 1),
        ]
    finally:
        try:
            await consumer.stop()
        finally:
            server.stop()


async def test_a_message_whose_handler_crashed_on_the_last_delivery_is_parked_unhandled(
    bus: Bus, running: list[DurableConsumer]
) -> None:
    spec = bus.spec(max_deliver=1, ack_wait=0.5)
    await bus.js.add_consumer(bus.stream.name, spec.consumer_config())
    crashed = await bus.js.pull_subscribe_bind(durable=spec.durable, stream=bus.stream.name)
    event_id = await bus.publish("crashed")
    [taken] = await crashed.fetch(1, timeout=5)  # delivery 1, then the process "dies"
    assert taken.metadata.num_delivered == 1
    await crashed.unsubscribe()

    handler = Recorder()
    await start(running, bus, handler, spec)
    await eventually(lambda: settled(bus))
    assert handler.calls == []
    [parked] = await dead_letters(bus.js, f"dlq.{bus.prefix}.>", expected=1)
    assert parked.headers is not None
    assert parked.headers[ORIGINAL_MSG_ID] == event_id
    assert parked.headers[REASON] == "delivered 2 times, never acknowledged (max 1)"
