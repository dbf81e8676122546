"""The live projector: durable consumers that keep the read model up to date.

One durable consumer per stream the model reads (its major's subjects only),
each applying every event once (`projection.apply_event`) in a transaction of
its own. Killed at any point, a consumer resumes from JetStream's ack floor:
an event applied but not yet acknowledged comes back and is skipped by id.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NatsClient

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.tls.files import TlsFiles
from services.reporting.facts import ORDER_TYPES, USER_TYPES, event_time, fact_of
from services.reporting.projection import apply_event
from services.reporting.streams import ORDER_EVENTS, USER_EVENTS


@dataclass(frozen=True)
class Source:
    """A stream the model reads: its consumer and the event types it understands."""

    spec: ConsumerSpec
    types: EventTypes


# Applying an event takes milliseconds: a short ack_wait bounds how long an event
# delivered to a projector that died stays missing below the model's position.
_ACK_WAIT = 5.0
SOURCES = (
    Source(
        ConsumerSpec(ORDER_EVENTS.name, "reporting-orders", "order.events.v1.>", _ACK_WAIT),
        ORDER_TYPES,
    ),
    Source(
        ConsumerSpec(USER_EVENTS.name, "reporting-users", "user.events.v1.>", _ACK_WAIT),
        USER_TYPES,
    ),
)


class Projector:
    """The handler of one source: decode the fact, apply it to the live set."""

    def __init__(self, pool: asyncpg.Pool, source: Source) -> None:
        self._pool = pool
        self._spec = source.spec

    async def __call__(self, event: DecodedEvent) -> None:
        fact = fact_of(event.message, event_time(event.time))
        async with self._pool.acquire() as connection, connection.transaction():
            await apply_event(
                connection,
                consumer=self._spec.durable,
                event_id=event.id,
                stream=self._spec.stream,
                sequence=event.stream_sequence,
                event_time=event_time(event.time),
                fact=fact,
            )


def projector_workers(
    nats: NatsClient | str, pool: asyncpg.Pool, *, tls: TlsFiles | None = None
) -> list[DurableConsumer]:
    """The consumers the reporting service runs beside its query RPCs; `tls` is the
    service's certificate, for a tls:// NATS."""
    return [
        DurableConsumer(nats, source.spec, source.types, Projector(pool, source), tls=tls)
        for source in SOURCES
    ]
