"""The outbox relay against the real PostgreSQL and the real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from shop.order.events.v1 import events_pb2

from protomesh.bus.publisher import OutgoingEvent
from protomesh.bus.streams import ensure_streams
from protomesh.outbox import OutboxRelay, RelaySettings, notify_relay
from protomesh.outbox.batch import relay_batch
from protomesh.outbox.claims import claim_batch
from protomesh.outbox.relay_metrics import BACKLOG_INTERVAL, RelayMetrics
from tests.support.metrics import sample, total
from tests.support.nats import MESH_STREAMS, Nats, start_nats
from tests.support.outbox import (
    ORDER_STREAM,
    ScratchOutbox,
    create_outbox,
    eventually,
    ids_in,
    relay_process,
    stream_messages,
)
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration


@pytest.fixture
async def outbox(postgres: Postgres) -> AsyncIterator[ScratchOutbox]:
    created = await create_outbox(postgres)
    yield created
    await created.close()


@pytest.fixture
async def js(nats: Nats) -> AsyncIterator[JetStreamContext]:
    client: Client = await nats.connect()
    context = client.jetstream()
    await ensure_streams(context, MESH_STREAMS)
    yield context
    await client.close()


def relay_for(outbox: ScratchOutbox, nats: Nats, **settings: float) -> OutboxRelay:
    return OutboxRelay(outbox.database, nats.url, RelaySettings(**settings))  # type: ignore[arg-type]


async def test_committed_events_reach_the_stream_with_their_envelope(
    outbox: ScratchOutbox, nats: Nats, js: JetStreamContext
) -> None:
    relay = relay_for(outbox, nats, poll_interval=0.2)
    await relay.start()
    try:
        first = await outbox.write("order-1", 0)
        second = await outbox.write("order-1", 1)
        await eventually(lambda: _all_published(outbox), message="rows published")
    finally:
        await relay.stop()

    messages = [
        m
        for m in await stream_messages(js)
        if m.headers and m.headers.get("ce-id") in (first, second)
    ]
    assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [first, second]
    headers = messages[0].headers or {}
    assert messages[0].subject == "order.events.v1.OrderCancelled"
    assert headers["ce-type"] == "shop.order.events.v1.OrderCancelled"
    assert headers["ce-source"] == "/shop/order"
    assert headers["ce-specversion"] == "1.0"
    assert headers["schema-version"] == "1"
    assert headers["aggregate-id"] == "order-1"
    assert headers["aggregate-sequence"] == "0"
    assert headers["traceparent"].startswith("00-abab")
    assert events_pb2.OrderCancelled.FromString(messages[0].data or b"").reason == "step 0"


async def _all_published(outbox: ScratchOutbox) -> bool:
    return await outbox.unpublished() == 0


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Nats]:
    """A NATS server for this test alone: it is stopped and killed here."""
    server = start_nats(tmp_path)
    yield server
    server.stop()


async def _jetstream(nats: Nats) -> tuple[Client, JetStreamContext]:
    client = await nats.connect()
    context = client.jetstream()
    await ensure_streams(context, MESH_STREAMS)
    return client, context


async def _stored(js: JetStreamContext) -> int:
    return int((await js.stream_info(ORDER_STREAM)).state.messages)


async def test_writes_succeed_while_nats_is_down_and_all_arrive_when_it_returns(
    outbox: ScratchOutbox, own_nats: Nats
) -> None:
    client, js = await _jetstream(own_nats)
    await client.close()
    relay = relay_for(outbox, own_nats, poll_interval=0.2, ack_timeout=1.0, max_backoff=0.5)
    lag = "outbox_relay_lag_seconds_count"
    published_before = total(lag)
    await relay.start()
    try:
        own_nats.kill()
        written = await outbox.write_many(aggregates=20, per_aggregate=5)
        await asyncio.sleep(1.0)  # the relay tries (and backs off) several times meanwhile
        assert await outbox.unpublished() == len(written)
        assert total(lag) == published_before  # nothing acknowledged yet

        own_nats.start()
        await eventually(lambda: _all_published(outbox), message="published after NATS returned")
    finally:
        await relay.stop()
    # The relay-lag histogram saw each event once, when JetStream acknowledged it.
    assert total(lag) - published_before == len(written)

    client, js = await _jetstream(own_nats)
    try:
        assert sorted(ids_in(await stream_messages(js), written)) == sorted(written)
    finally:
        await client.close()


async def test_the_backlog_gauge_counts_the_rows_not_yet_published(
    outbox: ScratchOutbox,
) -> None:
    await outbox.write_many(aggregates=3, per_aggregate=2)
    metrics = RelayMetrics(MESH_STREAMS)
    async with outbox.pool.acquire() as connection:
        await metrics.count_backlog_when_due(connection)
        assert sample("outbox_backlog_rows", stream=ORDER_STREAM) == 6
        await connection.execute("UPDATE outbox SET published_at = now()")
        await metrics.count_backlog_when_due(connection)  # not due yet: a second apart
        assert sample("outbox_backlog_rows", stream=ORDER_STREAM) == 6
        await asyncio.sleep(BACKLOG_INTERVAL)  # due now
        await metrics.count_backlog_when_due(connection)
    assert sample("outbox_backlog_rows", stream=ORDER_STREAM) == 0


async def test_a_relay_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    outbox: ScratchOutbox, own_nats: Nats, tmp_path: Path
) -> None:
    client, js = await _jetstream(own_nats)
    written = await outbox.write_many(aggregates=500, per_aggregate=4)
    # One batch for everything, acks one at a time: a slow batch to kill in the middle.
    crashing = relay_process(
        outbox.database, own_nats.url, tmp_path, batch_size="5000", max_in_flight="1"
    )
    crashing.start()
    try:
        # Kill in the first half: seen at 1981 of 2000 (as once on a loaded machine),
        # the last acks and the commit could land before the kill does.
        await eventually(
            lambda: _stored_between(js, 1, len(written) // 2),
            message="the batch under way",
            every=0.01,
        )
        crashing.kill()
        # The claiming transaction never committed: every row is still unpublished.
        assert await outbox.unpublished() == len(written)
        assert 0 < await _stored(js) < len(written)

        restarted = relay_process(outbox.database, own_nats.url, tmp_path)
        restarted.start()
        try:
            await eventually(lambda: _all_published(outbox), message="published after restart")
        finally:
            assert restarted.terminate() == 0
        assert await _stored(js) == len(written)
        assert sorted(ids_in(await stream_messages(js), written)) == sorted(written)
    finally:
        crashing.kill()
        await client.close()


async def _stored_between(js: JetStreamContext, low: int, high: int) -> bool:
    return low <= await _stored(js) <= high


async def test_concurrent_claims_take_disjoint_rows_and_hold_back_later_sequences(
    outbox: ScratchOutbox,
) -> None:
    first_aggregate, second_aggregate = "agg-a", "agg-b"
    for sequence in range(3):
        await outbox.write(first_aggregate, sequence, notify=False)
    await outbox.write(second_aggregate, 0, notify=False)

    async with outbox.pool.acquire() as one, outbox.pool.acquire() as two:
        async with one.transaction():
            held = await claim_batch(one, 1)  # locks agg-a/0 only
            assert [(e.aggregate_id, e.sequence) for e in held.ready] == [(first_aggregate, 0)]
            async with two.transaction():
                other = await claim_batch(two, 10)
        # agg-a/1 and /2 were locked by `two` but not ready: /0 is still unpublished elsewhere.
        assert other.claimed == 3
        assert [(e.aggregate_id, e.sequence) for e in other.ready] == [(second_aggregate, 0)]


async def test_two_relays_at_once_publish_each_event_once_in_aggregate_order(
    outbox: ScratchOutbox, nats: Nats, js: JetStreamContext
) -> None:
    relays = [relay_for(outbox, nats, batch_size=16, poll_interval=0.2) for _ in range(2)]
    for relay in relays:
        await relay.start()
    try:
        written = await outbox.write_many(aggregates=40, per_aggregate=8)
        await eventually(lambda: _all_published(outbox), message="all published")
    finally:
        for relay in relays:
            await relay.stop()

    # Each relay counts the acks it got: JetStream dedupe would hide a double publish
    # in the stream, but not in these counters.
    assert sum(relay.published for relay in relays) == len(written)
    ours = set(written)
    sequences: dict[str, list[int]] = {}
    for message in await stream_messages(js):
        headers = message.headers or {}
        if headers.get("Nats-Msg-Id") in ours:
            sequences.setdefault(headers["aggregate-id"], []).append(
                int(headers["aggregate-sequence"])
            )
    assert len(sequences) == 40
    assert all(seen == list(range(8)) for seen in sequences.values())


async def test_a_notify_wakes_a_relay_long_before_its_poll_interval(
    outbox: ScratchOutbox, nats: Nats, js: JetStreamContext
) -> None:
    relay = relay_for(outbox, nats, poll_interval=120.0)
    await outbox.write("primer", 0, notify=False)
    await relay.start()
    try:
        # The start-up pass publishes the primer; then the relay sleeps for 120 s.
        await eventually(lambda: _all_published(outbox), message="primer published")
        await outbox.write("woken", 0, notify=False)
        await asyncio.sleep(0.5)
        assert await outbox.unpublished() == 1  # no notify: it waits for the poll

        async with outbox.pool.acquire() as connection:
            await notify_relay(connection)
        await eventually(lambda: _all_published(outbox), within=10.0, message="woken by NOTIFY")
    finally:
        await relay.stop()


async def test_the_relay_reconnects_after_postgres_drops_its_connections(
    outbox: ScratchOutbox, nats: Nats, js: JetStreamContext, postgres: Postgres
) -> None:
    relay = relay_for(outbox, nats, poll_interval=0.2, max_backoff=0.2)
    await relay.start()
    try:
        await outbox.write("before", 0)
        await eventually(lambda: _all_published(outbox), message="first event")
        admin = await postgres.connect()
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE usename = $1 AND application_name = 'outbox-relay'",
                outbox.database.url.split("//")[1].split("@")[0],
            )
        finally:
            await admin.close()
        assert dropped == RelaySettings().pipelines + 1  # the pipelines and the LISTEN connection
        await outbox.write("after", 0)
        await eventually(lambda: _all_published(outbox), message="published after reconnect")
    finally:
        await relay.stop()


class RefusingPublisher:
    """Acknowledges everything except the events of one aggregate (NATS refusing them)."""

    def __init__(self, refused_aggregate: str) -> None:
        self.refused = refused_aggregate
        self.sent: list[tuple[str, int]] = []

    async def publish_all(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        self.sent += [(e.aggregate_id, e.sequence) for e in events]
        return [
            nats.errors.TimeoutError() if e.aggregate_id == self.refused else None for e in events
        ]


async def test_a_failed_event_holds_back_its_aggregates_later_events_only(
    outbox: ScratchOutbox,
) -> None:
    for sequence in range(3):
        await outbox.write("stuck", sequence, notify=False)
        await outbox.write("flowing", sequence, notify=False)
    publisher = RefusingPublisher("stuck")
    async with outbox.pool.acquire() as connection:
        outcome = await relay_batch(connection, publisher, 100, keep=True)

    assert (outcome.claimed, outcome.published, outcome.failed) == (6, 3, 1)
    # "stuck"/1 and /2 were never sent: sending them would overtake /0.
    assert [s for s in publisher.sent if s[0] == "stuck"] == [("stuck", 0)]
    unpublished = await outbox.pool.fetch(
        "SELECT aggregate_id, sequence FROM outbox WHERE published_at IS NULL ORDER BY sequence"
    )
    assert [(r["aggregate_id"], r["sequence"]) for r in unpublished] == [
        ("stuck", 0),
        ("stuck", 1),
        ("stuck", 2),
    ]
