"""After a slot was invalidated: the watched tables' current rows as snapshot events.

The worker re-makes the slot *before* the tables are read, so a change committed
during the read reaches consumers too (after its row's snapshot, or as well
as it: consumers apply by key, newest wins). Snapshot events are positioned
at the new slot's start LSN, indexed per table, and their ids say snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg

from protomesh.bus.publisher import OutgoingEvent
from protomesh.cdc import slot
from protomesh.cdc.events import Position, TableEvents, snapshot_row


async def snapshot_events(
    connection: asyncpg.Connection,
    schema: str,
    builders: Mapping[str, TableEvents],
    start: int,
) -> dict[str, list[tuple[str, OutgoingEvent]]]:
    """table → an OPERATION_SNAPSHOT event per current row, in key order."""
    now = datetime.now(UTC)
    snapshot: dict[str, list[tuple[str, OutgoingEvent]]] = {}
    for table, builder in builders.items():
        rows = await slot.current_rows(connection, schema, table, builder.key_columns)
        snapshot[table] = [
            (table, builder.event("snapshot", None, snapshot_row(text), Position(start, i, now, 0)))
            for i, text in enumerate(rows)
        ]
    return snapshot
