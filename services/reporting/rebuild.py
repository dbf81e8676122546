"""Rebuild the read model from the streams' history and swap it in, while queries go on.

1. Fold every event of each source stream, from its first message to the
   last one there when the rebuild starts, through `domain.apply` in memory
   (fast: no round trip per event).
2. Write the result into a fresh table set (`customer_summaries_new`, ...)
   with COPY.
3. Swap, in one transaction: lock the live set against writes (queries still
   read it), apply the events that arrived since step 1 to the new set with
   the live projector's own statements, drop the live set and rename the new
   one in its place. Readers wait only for the drop and rename, never for the
   replay; the live projector waits for the whole swap, then carries on
   against the new set, skipping by id every event it already holds.

Events the live projector would park (undecodable, rejected) are skipped and
counted. The history is what the streams keep (`max_age` of ORDER_EVENTS and
USER_EVENTS): a rebuild can only see that far back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from protomesh.bus.consumer import Rejected
from protomesh.bus.decoding import DecodedEvent, Undecodable
from protomesh.db.session_state import session_connection
from services.reporting.domain import CustomerSummary, OrderTotal, apply, order_id_of
from services.reporting.facts import event_time, fact_of
from services.reporting.projection import apply_event, order_row, summary_row
from services.reporting.projector import SOURCES, Source
from services.reporting.tables import (
    APPLIED,
    NAMES,
    NEW,
    ORDERS,
    POSITIONS,
    SUMMARIES,
    Connection,
    applied_index,
    create_tables,
    table,
)

log = logging.getLogger("services.reporting.rebuild")

_CHECK_EVERY = 0.5  # seconds between checks of a filtered range's end
_LOCK = "SELECT pg_advisory_lock(hashtext('services.reporting.rebuild'))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('services.reporting.rebuild'))"


@dataclass
class Fold:
    """The read model built in memory, and how far each stream was read."""

    summaries: dict[str, CustomerSummary] = field(default_factory=dict)
    orders: dict[str, OrderTotal] = field(default_factory=dict)
    positions: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    applied: dict[str, set[str]] = field(default_factory=dict)  # consumer -> event ids
    read_to: dict[str, int] = field(default_factory=dict)  # stream -> last sequence read
    events: int = 0
    skipped: int = 0

    def add(self, source: Source, event: DecodedEvent) -> None:
        ids = self.applied.setdefault(source.spec.durable, set())
        happened = event_time(event.time)
        if event.id in ids:  # a repeat: its effect is held, its position still counts
            self._advance(source, event, happened)
            return
        try:
            fact = fact_of(event.message, happened)
        except Rejected:
            self.skipped += 1
            return
        ids.add(event.id)
        summary = self.summaries.get(fact.customer_id) or CustomerSummary(fact.customer_id)
        order_id = order_id_of(fact)
        order = self.orders.get(order_id) if order_id else None
        summary, order = apply(summary, order, fact)
        self.summaries[fact.customer_id] = summary
        if order is not None:
            self.orders[order.order_id] = order
        self._advance(source, event, happened)
        self.events += 1

    def _advance(self, source: Source, event: DecodedEvent, happened: datetime) -> None:
        stream = source.spec.stream
        current = self.positions.get(stream)
        if current is None or event.stream_sequence > current[0]:
            self.positions[stream] = (event.stream_sequence, happened)


@dataclass(frozen=True)
class RebuildReport:
    events: int  # applied in the bulk phase
    caught_up: int  # applied during the swap
    skipped: int
    seconds: float
    positions: dict[str, int]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


Visit = Callable[[Source, DecodedEvent], Awaitable[None]]


async def read_stream(js: JetStreamContext, source: Source, after: int, visit: Visit) -> int:
    """Hand every decodable event of `source` after sequence `after` to `visit`, up to
    the last one in the stream now; returns the last sequence read (`after` if none).

    An ordered push consumer (no acks, flow-controlled by the server) streams the
    range: one callback per message, no request per batch.
    """
    spec = source.spec
    target = (await js.stream_info(spec.stream)).state.last_seq or 0
    if target <= after:
        return after
    last = after
    reached = asyncio.Event()
    failure: list[BaseException] = []

    async def on_message(message: Msg) -> None:
        nonlocal last
        sequence = message.metadata.sequence.stream
        if sequence > target or failure:
            reached.set()
            return
        try:
            event = _decoded(source, message, sequence)
            if event is not None:
                await visit(source, event)
        except Exception as error:  # handed to the caller, which stops reading
            failure.append(error)
            reached.set()
            return
        last = sequence
        if sequence >= target:
            reached.set()

    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        filter_subject=spec.filter_subject,
        mem_storage=True,
    )
    subscription = await js.subscribe(
        spec.filter_subject,
        stream=spec.stream,
        cb=on_message,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=-1,
    )
    try:
        # The last message of the stream may be one the filter leaves out: then
        # the consumer's own count of what is left says when the range is done.
        while not reached.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reached.wait(), _CHECK_EVERY)
            if reached.is_set():
                break
            info = await subscription.consumer_info()
            if not info.num_pending and subscription.pending_msgs == 0:
                break
    finally:
        await subscription.unsubscribe()
    if failure:
        raise failure[0]
    return last


def _decoded(source: Source, message: Msg, sequence: int) -> DecodedEvent | None:
    try:
        return source.types.decode(message.subject, message.headers, message.data, 1, sequence)
    except Undecodable:
        return None


async def rebuild(pool: asyncpg.Pool, js: JetStreamContext) -> RebuildReport:
    """Rebuild the read model from the streams and swap it in (one rebuild at a time)."""
    # A session lock, held across the rebuild's transactions: a session connection.
    async with session_connection(pool) as connection:
        await connection.execute(_LOCK)
        try:
            return await _rebuild(connection, js)
        finally:
            await connection.execute(_UNLOCK)


async def _rebuild(connection: Connection, js: JetStreamContext) -> RebuildReport:
    started = time.perf_counter()
    fold = Fold()

    async def into_fold(source: Source, event: DecodedEvent) -> None:
        fold.add(source, event)

    for source in SOURCES:
        fold.read_to[source.spec.stream] = await read_stream(js, source, 0, into_fold)
    await _write_new_set(connection, fold)
    bulk_seconds = time.perf_counter() - started
    caught_up = await _swap(connection, js, fold)
    report = RebuildReport(
        events=fold.events,
        caught_up=caught_up,
        skipped=fold.skipped,
        seconds=bulk_seconds,
        positions={stream: position for stream, (position, _) in fold.positions.items()},
    )
    log.info("read model rebuilt", extra={"events": report.events, "caught_up": caught_up})
    return report


async def _write_new_set(connection: Connection, fold: Fold) -> None:
    now = datetime.now(UTC)
    async with connection.transaction():
        for name in NAMES:
            await connection.execute(f"DROP TABLE IF EXISTS {table(name, NEW)}")
        await create_tables(connection, NEW)
        await connection.copy_records_to_table(
            table(SUMMARIES, NEW),
            records=[summary_row(s) for s in fold.summaries.values()],
            columns=[
                "customer_id",
                "display_name",
                "orders_placed",
                "orders_cancelled",
                "spent",
                "last_order_time",
            ],
        )
        await connection.copy_records_to_table(
            table(ORDERS, NEW),
            records=[order_row(o) for o in fold.orders.values()],
            columns=["order_id", "customer_id", "currency_code", "amount_minor", "cancelled"],
        )
        await connection.copy_records_to_table(
            table(POSITIONS, NEW),
            records=[(s, seq, at, now) for s, (seq, at) in fold.positions.items()],
            columns=["stream", "sequence", "event_time", "applied_at"],
        )
        await connection.copy_records_to_table(
            table(APPLIED, NEW),
            records=[(c, i, now) for c, ids in fold.applied.items() for i in ids],
            columns=["consumer", "event_id", "processed_at"],
        )


async def lock_live_set(connection: Connection) -> None:
    """EXCLUSIVE: the live projector's writes wait, queries (ACCESS SHARE) do not.

    Taken in the projector's own order (`tables.NAMES`): in any other, a projector
    holding the first table it writes and wanting the next one deadlocks with the swap.
    """
    await connection.execute(f"LOCK TABLE {', '.join(NAMES)} IN EXCLUSIVE MODE")


async def _swap(connection: Connection, js: JetStreamContext, fold: Fold) -> int:
    """Catch the new set up under a write lock on the live one, then put it in its place."""
    caught_up = 0

    async def into_new_set(source: Source, event: DecodedEvent) -> None:
        nonlocal caught_up
        try:
            fact = fact_of(event.message, event_time(event.time))
        except Rejected:
            return
        applied = await apply_event(
            connection,
            consumer=source.spec.durable,
            event_id=event.id,
            stream=source.spec.stream,
            sequence=event.stream_sequence,
            event_time=event_time(event.time),
            fact=fact,
            suffix=NEW,
        )
        caught_up += int(applied)

    async with connection.transaction():
        await lock_live_set(connection)
        for source in SOURCES:
            after = fold.read_to.get(source.spec.stream, 0)
            await read_stream(js, source, after, into_new_set)
        for name in NAMES:
            await connection.execute(f"DROP TABLE {name}")
            await connection.execute(f"ALTER TABLE {table(name, NEW)} RENAME TO {name}")
        # Else the next rebuild's `CREATE INDEX IF NOT EXISTS` finds the name taken.
        await connection.execute(f"ALTER INDEX {applied_index(NEW)} RENAME TO {applied_index()}")
    return caught_up
