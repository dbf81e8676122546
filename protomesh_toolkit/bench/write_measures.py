"""The write path's measurements: each bounded in count and in time.

Rates come from closed loops (N concurrent callers, each starting its next
call when the last returns) over a fixed count or a time limit, whichever
ends first. The lag is measured open loop, at a fixed event rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import grpc
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from shop.order.events.v1 import events_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc

from protomesh.outbox import OutboxRelay, append_event, notify_relay
from protomesh.outbox.naming import schema_version, subject_for
from protomesh.tls.client import channel_credentials, server_name_options
from protomesh.tls.files import TlsFiles

EVENT = events_pb2.OrderPlaced
SUBJECT = subject_for(EVENT.DESCRIPTOR.full_name)


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Lag:
    rate: float  # events per second offered
    sent: int
    received: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def order_placed(order_id: uuid.UUID, customer_id: uuid.UUID) -> events_pb2.OrderPlaced:
    item = order_pb2.LineItem(
        sku="SKU-12345",
        quantity=2,
        unit_price=order_pb2.Money(currency_code="EUR", amount_minor=1999),
    )
    return EVENT(
        order_id=str(order_id),
        customer_id=str(customer_id),
        items=[item, item],
        total=order_pb2.Money(currency_code="EUR", amount_minor=7996),
    )


async def closed_loop(
    call: Callable[[], Awaitable[None]], *, count: int, seconds: float, concurrency: int
) -> Rate:
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while done < count and time.perf_counter() < deadline:
            done += 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return Rate(done, time.perf_counter() - started)


async def raw_inserts(pool: asyncpg.Pool, count: int, seconds: float, concurrency: int) -> Rate:
    """Baseline: one INSERT per statement (autocommit), nothing else."""
    payload = order_placed(uuid.uuid4(), uuid.uuid4()).SerializeToString()

    async def insert() -> None:
        await pool.execute(
            "INSERT INTO baseline_rows (id, customer_id, payload) VALUES ($1, $2, $3)",
            uuid.uuid4(),
            uuid.uuid4(),
            payload,
        )

    return await closed_loop(insert, count=count, seconds=seconds, concurrency=concurrency)


async def place_order(pool: asyncpg.Pool) -> tuple[uuid.UUID, float]:
    """The order service's write: the order row and its event, one transaction, then NOTIFY.

    Returns the event id and when the commit returned (perf_counter).
    """
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as connection:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO orders (id, customer_id, status, total_minor, currency)"
                " VALUES ($1, $2, 'PENDING', 7996, 'EUR')",
                order_id,
                customer_id,
            )
            event_id = await append_event(
                connection,
                aggregate_type="order",
                aggregate_id=str(order_id),
                sequence=0,
                event=order_placed(order_id, customer_id),
            )
        committed = time.perf_counter()
        await notify_relay(connection)
    return event_id, committed


async def place_orders(pool: asyncpg.Pool, count: int, seconds: float, concurrency: int) -> Rate:
    async def call() -> None:
        await place_order(pool)

    return await closed_loop(call, count=count, seconds=seconds, concurrency=concurrency)


async def publish_one_at_a_time(js: JetStreamContext, count: int, seconds: float) -> Rate:
    """Baseline: `await js.publish` per message, each waiting for its ack."""
    payload = order_placed(uuid.uuid4(), uuid.uuid4()).SerializeToString()

    async def publish() -> None:
        await js.publish(SUBJECT, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})

    return await closed_loop(publish, count=count, seconds=seconds, concurrency=1)


async def fill_outbox(connection: asyncpg.Connection, count: int) -> None:
    """`count` committed, unpublished OrderPlaced rows, each its own aggregate."""
    await connection.execute(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, sequence, event_type,"
        " schema_version, subject, payload)"
        " SELECT gen_random_uuid(), 'order', gen_random_uuid()::text, 0, $1, $2, $3, $4"
        " FROM generate_series(1, $5)",
        EVENT.DESCRIPTOR.full_name,
        schema_version(EVENT.DESCRIPTOR.full_name),
        SUBJECT,
        order_placed(uuid.uuid4(), uuid.uuid4()).SerializeToString(),
        count,
    )


async def relay_drain(relay: OutboxRelay, count: int, seconds: float) -> Rate:
    """From relay start to `count` events acknowledged by JetStream (or the time limit)."""
    started = time.perf_counter()
    await relay.start()
    deadline = started + seconds
    # The relay's counter is the clock's stop; a 2 ms poll adds at most 2 ms.
    while relay.published < count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await relay.stop()
    return Rate(min(relay.published, count), elapsed)


async def commit_to_consumer_lag(
    pool: asyncpg.Pool, js: JetStreamContext, *, rate: float, seconds: float, settle: float
) -> Lag:
    """Place orders at `rate` per second; time each from its commit to a consumer's receipt."""
    committed: dict[str, float] = {}
    received: dict[str, float] = {}
    arrived = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        received[(msg.headers or {}).get("Nats-Msg-Id", "")] = time.perf_counter()
        arrived.set()

    subscription = await js.subscribe(
        SUBJECT, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    try:
        tasks: set[asyncio.Task[None]] = set()

        async def write() -> None:
            event_id, at = await place_order(pool)
            committed[str(event_id)] = at

        interval = 1.0 / rate
        total = int(rate * seconds)
        next_at = time.perf_counter()
        for _ in range(total):
            next_at += interval
            task = asyncio.create_task(write())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + settle
        while not committed.keys() <= received.keys() and time.perf_counter() < deadline:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), deadline - time.perf_counter())
    finally:
        await subscription.unsubscribe()
    lags = sorted((received[i] - at) * 1000 for i, at in committed.items() if i in received)
    cuts = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
    return Lag(rate, total, len(lags), cuts[49], cuts[98], lags[-1] if lags else 0.0)


async def place_orders_over_grpc(
    address: str,
    customer_id: str,
    tls: TlsFiles,
    *,
    count: int,
    seconds: float,
    concurrency: int,
) -> Rate:
    """PlaceOrder on the real order service: validation, customer check, order + event.

    Over mTLS as the operator (a mesh identity, so the call is internal): without TLS no
    call is, and an order with no signed-in user would be refused."""
    item = order_pb2.LineItem(
        sku="SKU-12345",
        quantity=2,
        unit_price=order_pb2.Money(currency_code="EUR", amount_minor=1999),
    )
    request = order_pb2.PlaceOrderRequest(customer_id=customer_id, items=[item])
    credentials = channel_credentials(tls)
    async with grpc.aio.secure_channel(
        address, credentials, server_name_options("order")
    ) as channel:
        orders = order_pb2_grpc.OrderServiceStub(channel)

        async def call() -> None:
            await orders.PlaceOrder(request, timeout=10)

        return await closed_loop(call, count=count, seconds=seconds, concurrency=concurrency)


async def stored_messages(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


async def until_published(pool: asyncpg.Pool, seconds: float) -> None:
    """Wait (bounded) until the relay has published every committed row."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            return
        await asyncio.sleep(0.05)
