"""One pass over the slot: pgoutput messages in; the changes' events and the slot's next
position out.

The messages are whole transactions (PostgreSQL stops a peek after a
commit), so a pass's events are complete transactions and `last_commit_end`
is where the slot may move once every event is acknowledged. A change's
position is its transaction's commit LSN and its index within it: the same
on every read, which is what makes the dedupe id stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from protomesh.bus.publisher import OutgoingEvent
from protomesh.cdc import slot
from protomesh.cdc.events import Position, TableEvents
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.pgoutput import Begin, Change, Commit, Decoder


@dataclass(frozen=True)
class Batch:
    events: list[tuple[str, OutgoingEvent]]  # (table, event), in commit order
    last_commit_end: int | None  # where the slot may go once every event is acknowledged


def decode_batch(messages: Iterable[bytes], builders: Mapping[str, TableEvents]) -> Batch:
    decoder = Decoder()
    events: list[tuple[str, OutgoingEvent]] = []
    begin: Begin | None = None
    index = 0
    last_end = None
    for data in messages:
        message = decoder.decode(data)
        if isinstance(message, Begin):
            begin, index = message, 0
        elif isinstance(message, Change):
            builder = builders.get(message.relation.table)
            if builder is None or begin is None:
                continue  # a table of the publication this worker was not told about
            position = Position(begin.final_lsn, index, begin.commit_time, begin.xid)
            event = builder.event(message.operation, message.old, message.new, position)
            events.append((builder.table, event))
            index += 1
        elif isinstance(message, Commit):
            last_end, begin = message.end_lsn, None
    return Batch(events, last_end)


async def read_batch(
    connection: asyncpg.Connection,
    names: CaptureNames,
    limit: int,
    builders: Mapping[str, TableEvents],
) -> Batch:
    return decode_batch(await slot.peek(connection, names, limit), builders)
