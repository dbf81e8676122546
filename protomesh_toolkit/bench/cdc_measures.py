"""Change capture's measurements, beside the outbox relay's, each bounded in count and time.

- drain: committed row changes → JetStream acks, by an in-process ChangeCapture
  (the changes were written while it was away), as `relay_drain` does for the relay.
- lag: one write path feeds both: each transaction inserts an order row (which
  the CDC worker reads from the WAL) and its OrderPlaced outbox row (which the
  relay publishes). A JetStream consumer times each from commit to receipt,
  per path, keyed by the order id both carry in `aggregate-id`.
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
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from protomesh.bus.publisher import AGGREGATE_ID
from protomesh.cdc import ChangeCapture
from protomesh.outbox import append_event, notify_relay
from protomesh_toolkit.bench.write_measures import Lag, Rate, order_placed

ROWS_PER_TRANSACTION = 100


async def write_changes(connection: asyncpg.Connection, count: int) -> None:
    """`count` inserted order rows, ROWS_PER_TRANSACTION to a transaction."""
    for start in range(0, count, ROWS_PER_TRANSACTION):
        await connection.execute(
            "INSERT INTO orders (id, customer_id, status, total_minor, currency)"
            " SELECT gen_random_uuid(), gen_random_uuid(), 'PENDING', 100, 'EUR'"
            " FROM generate_series(1, $1)",
            min(ROWS_PER_TRANSACTION, count - start),
        )


async def cdc_drain(capture: ChangeCapture, count: int, seconds: float) -> Rate:
    """From the worker's start to `count` changes acknowledged by JetStream (or the limit)."""
    started = time.perf_counter()
    await capture.start()
    deadline = started + seconds
    while capture.published < count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await capture.stop()
    return Rate(min(capture.published, count), elapsed)


async def _place_order(pool: asyncpg.Pool) -> tuple[str, float]:
    """The order row and its outbox event in one transaction; (order id, commit time)."""
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as connection:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO orders (id, customer_id, status, total_minor, currency)"
                " VALUES ($1, $2, 'PENDING', 7996, 'EUR')",
                order_id,
                customer_id,
            )
            await append_event(
                connection,
                aggregate_type="order",
                aggregate_id=str(order_id),
                sequence=0,
                event=order_placed(order_id, customer_id),
            )
        committed = time.perf_counter()
        await notify_relay(connection)
    return str(order_id), committed


@dataclass(frozen=True)
class Lags:
    cdc: Lag
    outbox: Lag


async def both_lags(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    *,
    subjects: dict[str, str],
    rate: float,
    seconds: float,
    settle: float,
) -> Lags:
    """Write at `rate` per second; `subjects` maps "cdc"/"outbox" to what each publishes on."""
    committed: dict[str, float] = {}
    received: dict[str, dict[str, float]] = {path: {} for path in subjects}
    arrived = asyncio.Event()

    def on(path: str) -> Callable[[Msg], Awaitable[None]]:
        async def on_message(msg: Msg) -> None:
            received[path][(msg.headers or {}).get(AGGREGATE_ID, "")] = time.perf_counter()
            arrived.set()

        return on_message

    subscriptions = [
        await js.subscribe(
            subject, cb=on(path), ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        for path, subject in subjects.items()
    ]
    try:
        tasks: set[asyncio.Task[None]] = set()

        async def write() -> None:
            order_id, at = await _place_order(pool)
            committed[order_id] = at

        total = int(rate * seconds)
        next_at = time.perf_counter()
        for _ in range(total):
            next_at += 1.0 / rate
            task = asyncio.create_task(write())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + settle
        while time.perf_counter() < deadline and not all(
            committed.keys() <= got.keys() for got in received.values()
        ):
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), deadline - time.perf_counter())
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()
    return Lags(
        _lag(rate, total, committed, received["cdc"]),
        _lag(rate, total, committed, received["outbox"]),
    )


def _lag(rate: float, total: int, committed: dict[str, float], got: dict[str, float]) -> Lag:
    lags = sorted((got[key] - at) * 1000 for key, at in committed.items() if key in got)
    cuts = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
    if not cuts:
        return Lag(rate, total, 0, 0.0, 0.0, 0.0)
    return Lag(rate, total, len(lags), cuts[49], cuts[98], lags[-1])
