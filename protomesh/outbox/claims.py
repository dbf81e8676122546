"""Claim unpublished outbox rows, and record which were published, in one transaction.

Rows are locked `FOR UPDATE SKIP LOCKED`, so relays running at once take
disjoint batches and never publish one row twice. A claimed row is `ready`
only if no earlier event of its aggregate is still unpublished outside this
batch: another relay may hold sequence n, and publishing n+1 first would
break per-aggregate order. Rows not ready stay locked until this transaction
ends, then return to the queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import asyncpg

from protomesh.bus.publisher import OutgoingEvent
from protomesh.outbox.naming import source_for
from protomesh.outbox.schema import TABLE

_CLAIM = f"""
WITH claimed AS MATERIALIZED (
    SELECT id FROM {TABLE}
    WHERE published_at IS NULL
    ORDER BY position
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
SELECT o.id, o.aggregate_type, o.aggregate_id, o.sequence, o.event_type, o.schema_version,
       o.subject, o.payload, o.headers, o.occurred_at,
       NOT EXISTS (
           SELECT 1 FROM {TABLE} earlier
           WHERE earlier.aggregate_id = o.aggregate_id
             AND earlier.sequence < o.sequence
             AND earlier.published_at IS NULL
             AND earlier.id NOT IN (SELECT id FROM claimed)
       ) AS ready
FROM claimed JOIN {TABLE} o USING (id)
ORDER BY o.aggregate_id, o.sequence
"""
_MARK_PUBLISHED = f"UPDATE {TABLE} SET published_at = clock_timestamp() WHERE id = ANY($1::uuid[])"
_DELETE_PUBLISHED = f"DELETE FROM {TABLE} WHERE id = ANY($1::uuid[])"
_UNPUBLISHED = (
    f"SELECT subject, count(*) AS rows FROM {TABLE} WHERE published_at IS NULL GROUP BY subject"
)
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True)
class Claim:
    """A locked batch: `ready` events in (aggregate, sequence) order, and how many rows."""

    ready: list[OutgoingEvent]
    claimed: int


async def claim_batch(connection: Connection, limit: int) -> Claim:
    """Lock up to `limit` unpublished rows; call inside the transaction that marks them."""
    rows = await connection.fetch(_CLAIM, limit)
    return Claim([_to_event(row) for row in rows if row["ready"]], len(rows))


async def mark_published(connection: Connection, event_ids: Sequence[str], *, keep: bool) -> None:
    """Stamp `published_at` (kept for the retention period) or delete the rows at once."""
    if event_ids:
        statement = _MARK_PUBLISHED if keep else _DELETE_PUBLISHED
        # asyncpg encodes uuid text itself: no UUID object per event.
        await connection.execute(statement, list(event_ids))


async def count_unpublished(connection: Connection) -> dict[str, int]:
    """Unpublished rows by subject (the backlog gauge); reads the partial index only."""
    return {row["subject"]: row["rows"] for row in await connection.fetch(_UNPUBLISHED)}


def publish_waves(events: Iterable[OutgoingEvent]) -> list[list[OutgoingEvent]]:
    """Split a batch so no aggregate has two events in flight at once.

    Wave k holds the k-th event of every aggregate: events of one wave go out
    together (bounded in flight), and a wave starts only when the one before
    is acknowledged. Publishes racing on one connection could otherwise land
    out of order when one fails and is retried.

    >>> from datetime import UTC, datetime
    >>> def event(agg: str, seq: int) -> OutgoingEvent:
    ...     now = datetime.now(UTC)
    ...     return OutgoingEvent(f"{agg}{seq}", "t", 1, "s", b"", now, "/", "a", agg, seq)
    >>> waves = publish_waves([event("a", 0), event("a", 1), event("b", 0)])
    >>> [[e.event_id for e in wave] for wave in waves]
    [['a0', 'b0'], ['a1']]
    """
    waves: list[list[OutgoingEvent]] = []
    depth: dict[str, int] = {}
    for event in sorted(events, key=lambda e: (e.aggregate_id, e.sequence)):
        k = depth.get(event.aggregate_id, 0)
        depth[event.aggregate_id] = k + 1
        if k == len(waves):
            waves.append([])
        waves[k].append(event)
    return waves


_NO_HEADERS = ("{}", None)


def _to_event(row: asyncpg.Record) -> OutgoingEvent:
    # Once per event in the relay's hot loop: most rows carry no headers (no
    # trace), and a stream's few event types share one source.
    headers = row["headers"]
    if headers in _NO_HEADERS:
        extra: dict[str, str] = {}
    else:
        parsed = json.loads(headers) if isinstance(headers, str) else dict(headers)
        extra = {str(k): str(v) for k, v in parsed.items()}
    return OutgoingEvent(
        event_id=str(row["id"]),
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        subject=row["subject"],
        payload=bytes(row["payload"]),
        occurred_at=row["occurred_at"],
        source=_source_for(row["event_type"]),
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        sequence=row["sequence"],
        extra_headers=extra,
    )


_source_for = lru_cache(maxsize=256)(source_for)
