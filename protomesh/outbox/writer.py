"""Write events into the outbox inside the caller's business transaction.

The event row commits or rolls back with the state change it describes, so an
event is never lost after a commit and never sent for a rolled-back change
(no publish-after-commit). Waking the relay is a separate, best-effort hint:
`notify_relay` after commit; the relay also polls, so a lost hint only delays.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping

import asyncpg
from google.protobuf.message import Message

from protomesh.outbox.declared import check_declared
from protomesh.outbox.local_wake import wake_local
from protomesh.outbox.naming import schema_version, subject_for
from protomesh.outbox.schema import TABLE

# NOTIFY channel every relay LISTENs on; the payload is the outbox's schema, so a
# relay wakes only for its own service when several share one database.
NOTIFY_CHANNEL = "protomesh_outbox"

_NOTIFY = "SELECT pg_notify($1, current_schema())"
# set_config(..., true) lasts for this statement's own implicit transaction only.
_NOTIFY_WITHOUT_FLUSH = (
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, current_schema())"
)

log = logging.getLogger("protomesh.outbox")

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def append_event(
    connection: Connection,
    *,
    aggregate_type: str,
    aggregate_id: str,
    sequence: int,
    event: Message,
    headers: Mapping[str, str] | None = None,
) -> uuid.UUID:
    """Insert one event row; returns the event id (the NATS message id).

    Call it inside the transaction that changes the aggregate. `sequence` is
    the aggregate's event number (0, 1, 2, ...): a duplicate raises
    asyncpg.UniqueViolationError, which rolls the business change back too.
    `headers` (e.g. `traceparent`) travel with the message. A type the
    service did not declare in mesh.yaml raises `UndeclaredEventType`.
    """
    full_name = event.DESCRIPTOR.full_name
    check_declared(full_name)
    event_id = uuid.uuid4()
    await connection.execute(
        f"INSERT INTO {TABLE} (id, aggregate_type, aggregate_id, sequence, event_type,"
        " schema_version, subject, payload, headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        event_id,
        aggregate_type,
        aggregate_id,
        sequence,
        full_name,
        schema_version(full_name),
        subject_for(full_name),
        event.SerializeToString(),
        json.dumps(dict(headers or {})),
    )
    return event_id


async def notify_relay(connection: Connection) -> None:
    """Wake the relays of this connection's schema (send it after the commit).

    After a commit on a pool from `protomesh.db.pool.create_pool`, an awake relay
    of the schema in this process is woken directly instead
    (`protomesh.outbox.local_wake`): no round trip.

    Outside a transaction the NOTIFY commits on its own, and without waiting
    for the WAL flush: it carries no data worth an fsync per write, so a
    NOTIFY after every commit costs a round trip, not a second disk flush.
    Inside a transaction PostgreSQL delivers it at that transaction's commit,
    which keeps its full durability. It is only a hint: if it fails the events
    are committed all the same and the relay's next poll finds them, so a
    failure is logged, never raised to the caller.
    """
    in_transaction = connection.is_in_transaction()
    schema = getattr(connection, "pool_schema", None)  # set by protomesh.db.pool's pools
    if not in_transaction and schema is not None and wake_local(schema):
        return  # this process's relay of the schema is awake: woken without a round trip
    statement = _NOTIFY if in_transaction else _NOTIFY_WITHOUT_FLUSH
    try:
        await connection.execute(statement, NOTIFY_CHANNEL)
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        # The connection left mid-operation by a server that went away (seen under
        # kill -9 of PostgreSQL): "cannot switch to state ...; another operation is
        # in progress". The change is committed all the same.
        asyncpg.InternalClientError,
        OSError,
    ) as error:
        log.warning("could not wake the outbox relay (it will poll): %r", error)
