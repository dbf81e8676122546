"""Run the write path's phases in order and print each figure as it comes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
from nats.js import JetStreamContext

from protomesh.bus.connection import connect_nats
from protomesh.bus.streams import DEAD_LETTERS, ensure_streams
from protomesh.outbox import OutboxRelay, RelaySettings
from protomesh_toolkit.bench import write_measures as measure
from protomesh_toolkit.bench.write_measures import Rate
from protomesh_toolkit.bench.write_stack import WriteStack, connected, prepare_database
from services.order.streams import ORDER_EVENTS, USER_EVENTS

# Issue 15: the whole gRPC call (mTLS, interceptors, customer check, idempotency,
# the in-process relay) at half the rate of its bare transaction, at least.
PLACE_ORDER_AIM = 0.5
RELAY_AIM = 4.0  # the relay ÷ `await js.publish` one message at a time
SETTLE = 10.0  # seconds the lag phase waits for stragglers


@dataclass(frozen=True)
class Options:
    count: int
    seconds: float
    concurrency: int
    pool_size: int
    drain_events: int
    batch_size: int
    max_in_flight: int
    rate: float
    lag_seconds: float
    no_services: bool


async def measure_and_report(stack: WriteStack, options: Options) -> None:
    await prepare_database(stack)
    client = await connect_nats(stack.nats_url, name="bench", max_reconnect_attempts=3)
    js = client.jetstream()
    await ensure_streams(js, [ORDER_EVENTS, USER_EVENTS, DEAD_LETTERS])
    pool = await stack.pool(options.pool_size)
    print(
        f"write path: {options.concurrency} concurrent writers, pool of {options.pool_size},"
        f" each phase at most {options.count} operations or {options.seconds:g} s;"
        " PostgreSQL and nats-server (JetStream, file storage) on loopback",
        flush=True,
    )
    try:
        await _phases(stack, options, pool, js)
    finally:
        await pool.close()
        await client.close()


async def _phases(
    stack: WriteStack, options: Options, pool: asyncpg.Pool, js: JetStreamContext
) -> None:
    limit, seconds = options.count, options.seconds
    inserts = await measure.raw_inserts(pool, limit, seconds, options.concurrency)
    _row("baseline: raw asyncpg INSERT, autocommit", inserts, "rows/s")
    one_by_one = await measure.publish_one_at_a_time(js, limit, seconds)
    _row("baseline: await js.publish, one at a time", one_by_one, "msgs/s")

    async with connected(stack) as connection:
        await measure.fill_outbox(connection, options.drain_events)
    relay = OutboxRelay(
        stack.database,
        stack.nats_url,
        RelaySettings(batch_size=options.batch_size, max_in_flight=options.max_in_flight),
        name="bench-relay",
    )
    drained = await measure.relay_drain(relay, options.drain_events, seconds * 4)
    _row(
        f"relay: committed rows → JetStream acks (batch {options.batch_size},"
        f" {options.max_in_flight} in flight)",
        drained,
        "events/s",
    )

    over_grpc = (
        None if options.no_services else await _through_the_order_service(stack, options, js)
    )

    process = stack.start_relay("bench-relay-process")
    try:
        primer = await measure.commit_to_consumer_lag(pool, js, rate=1.0, seconds=1.0, settle=30.0)
        if primer.received != primer.sent:
            raise RuntimeError(f"the stand-alone relay published nothing:\n{process.tail()}")
        placed = await measure.place_orders(pool, limit, seconds, options.concurrency)
        _row("place order: order row + outbox event, commit, NOTIFY (pool)", placed, "tx/s")
        await measure.until_published(pool, SETTLE)  # the lag starts from an empty outbox
        lag = await measure.commit_to_consumer_lag(
            pool, js, rate=options.rate, seconds=options.lag_seconds, settle=SETTLE
        )
    finally:
        process.stop()
    print(
        f"  lag, commit → JetStream consumer at {lag.rate:g} events/s for"
        f" {options.lag_seconds:g} s (stand-alone relay): p50 {lag.p50_ms:.1f} ms,"
        f" p99 {lag.p99_ms:.1f} ms, max {lag.max_ms:.1f} ms ({lag.received}/{lag.sent} received)"
    )
    ratio = drained.per_second / one_by_one.per_second if one_by_one.per_second else 0.0
    print("against the issue's aims (2 cores):")
    print(
        f"  relay ÷ one-at-a-time publish: {ratio:.1f}x"
        f" (aim ≥ {RELAY_AIM:g}x: {'meets' if ratio >= RELAY_AIM else 'below'})"
    )
    print(f"  relay throughput: {drained.per_second:,.0f} events/s (aim ≥ 10,000)")
    print(f"  commit → consumer p99 at {lag.rate:g}/s: {lag.p99_ms:.1f} ms (aim ≤ 25 ms)")
    print(
        f"  place order ÷ raw insert: {placed.per_second / inserts.per_second:.2f}"
        " (the event row, the transaction and the NOTIFY)"
    )
    if over_grpc is not None and placed.per_second:
        share = over_grpc.per_second / placed.per_second
        verdict = "meets" if share >= PLACE_ORDER_AIM else "below"
        print(
            f"  PlaceOrder over gRPC ÷ raw order transaction: {share:.2f}"
            f" (aim ≥ {PLACE_ORDER_AIM:g}: {verdict})"
        )


async def _through_the_order_service(
    stack: WriteStack, options: Options, js: JetStreamContext
) -> Rate:
    """PlaceOrder over gRPC on the real services; their events, counted in the stream."""
    from protomesh_toolkit.bench.order_stack import running_order_service, seed_copy

    before = await measure.stored_messages(js, ORDER_EVENTS.name)
    with running_order_service(stack, options.pool_size) as (address, customer_id, tls):
        # A customer who registered before the phase, as ordering customers mostly are:
        # the order service finds them in its own copy and does not call GetUser.
        await seed_copy(stack, customer_id)
        placed = await measure.place_orders_over_grpc(
            address,
            customer_id,
            tls,
            count=options.count,
            seconds=options.seconds,
            concurrency=options.concurrency,
        )
        _row("place order over gRPC (order service, in-process relay)", placed, "orders/s")
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            if await measure.stored_messages(js, ORDER_EVENTS.name) - before >= placed.count:
                break
            await asyncio.sleep(0.05)
    published = await measure.stored_messages(js, ORDER_EVENTS.name) - before
    print(f"    its OrderPlaced events in ORDER_EVENTS: {published}/{placed.count}", flush=True)
    return placed


def _row(label: str, rate: Rate, unit: str) -> None:
    print(
        f"  {label}: {rate.per_second:,.0f} {unit} ({rate.count} in {rate.seconds:.2f} s)",
        flush=True,
    )
