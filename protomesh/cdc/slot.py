"""The database side of change capture: set-up, reading the slot, confirming, watching it.

Set-up (`prepare`, from an admin connection, idempotent and safe when two
workers start together) gives the worker a role of its own with REPLICATION
(reading a slot needs it) and SELECT on the watched tables (for a
re-snapshot), sets `REPLICA IDENTITY FULL` on them (so an UPDATE or DELETE
carries the old row), and makes the publication and the logical slot. The
service's own role is never touched: it stays NOREPLICATION.

Reading is over plain SQL, since asyncpg has no replication protocol:
`pg_logical_slot_peek_binary_changes` returns pgoutput messages *without*
consuming them, and `pg_replication_slot_advance` confirms a position only
once JetStream has acknowledged everything up to it. A crash in between
re-reads (and re-publishes, deduplicated by message id); nothing is skipped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg

from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.pgoutput import format_lsn, parse_lsn
from protomesh.config import Secret

_LOCK_KEY = "protomesh.cdc.prepare"

# What PostgreSQL says when a slot has lost WAL it needed (max_slot_wal_keep_size).
SLOT_LOST = "lost"


class TablesMissing(Exception):
    """The watched tables do not exist yet: the owning service has not migrated."""


class SlotMissing(Exception):
    """The slot is gone (dropped by hand, or never made): the worker cannot go on."""


async def _execute_formatted(connection: asyncpg.Connection, template: str, *args: str) -> None:
    """DDL takes no bind parameters; PostgreSQL's own format(%I, %L) does the quoting."""
    placeholders = ", ".join(f"${i}::text" for i in range(2, len(args) + 2))
    statement = await connection.fetchval(f"SELECT format($1, {placeholders})", template, *args)
    await connection.execute(statement)


async def prepare(
    admin: asyncpg.Connection,
    names: CaptureNames,
    *,
    role: str,
    password: Secret,
    schema: str,
    tables: list[str],
) -> None:
    """Role, grants, replica identity, publication and slot; raises TablesMissing early."""
    async with admin.transaction():
        await admin.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _LOCK_KEY)
        present = await admin.fetch(
            "SELECT c.relname, c.relreplident FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind = 'r'",
            schema,
            tables,
        )
        missing = sorted(set(tables) - {row["relname"] for row in present})
        if missing:
            raise TablesMissing(f"{schema}.{', '.join(missing)} not created yet")
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        await _execute_formatted(
            admin,
            f"{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD %L",
            role,
            password.reveal(),
        )
        await _execute_formatted(admin, "GRANT USAGE ON SCHEMA %I TO %I", schema, role)
        for row in present:
            table = row["relname"]
            await _execute_formatted(admin, "GRANT SELECT ON %I.%I TO %I", schema, table, role)
            if row["relreplident"] != "f":  # ALTER TABLE takes a lock: only when needed
                await _execute_formatted(
                    admin, "ALTER TABLE %I.%I REPLICA IDENTITY FULL", schema, table
                )
        await _publication(admin, names.publication, schema, tables)
        if await admin.fetchval("SELECT to_regprocedure('pg_log_standby_snapshot()') IS NOT NULL"):
            await _execute_formatted(
                admin, "GRANT EXECUTE ON FUNCTION pg_log_standby_snapshot() TO %I", role
            )
    await _create_slot_unless_exists(admin, names.slot)


async def _publication(
    admin: asyncpg.Connection, publication: str, schema: str, tables: list[str]
) -> None:
    """The publication lists exactly the watched tables; TRUNCATE is not published."""
    listed = ", ".join(
        [
            await admin.fetchval("SELECT format('%I.%I', $1::text, $2::text)", schema, t)
            for t in tables
        ]
    )
    exists = await admin.fetchval("SELECT 1 FROM pg_publication WHERE pubname = $1", publication)
    name = await admin.fetchval("SELECT format('%I', $1::text)", publication)
    if exists:
        await admin.execute(f"ALTER PUBLICATION {name} SET TABLE {listed}")
    else:
        await admin.execute(
            f"CREATE PUBLICATION {name} FOR TABLE {listed}"
            " WITH (publish = 'insert, update, delete')"
        )


async def _create_slot_unless_exists(connection: asyncpg.Connection, slot: str) -> None:
    if await connection.fetchval("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", slot):
        return
    # Another worker may make it between our check and our call.
    with contextlib.suppress(asyncpg.DuplicateObjectError):
        await connection.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)


async def prepare_from_admin(
    admin_url: str, admin_password: Secret | None, names: CaptureNames, **fields: object
) -> None:
    admin = await asyncpg.connect(
        admin_url, password=admin_password.reveal() if admin_password else None, timeout=5.0
    )
    try:
        await prepare(admin, names, **fields)  # type: ignore[arg-type]
    finally:
        await admin.close()


async def primary_keys(
    connection: asyncpg.Connection, schema: str, tables: list[str]
) -> dict[str, tuple[str, ...]]:
    """table → its primary key columns, in key order (a change's `key`)."""
    rows = await connection.fetch(
        "SELECT c.relname, array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[],"
        " a.attnum)) AS columns FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indisprimary AND n.nspname = $1 AND c.relname = ANY($2::text[])"
        " GROUP BY c.relname",
        schema,
        tables,
    )
    return {row["relname"]: tuple(row["columns"]) for row in rows}


async def peek(connection: asyncpg.Connection, names: CaptureNames, limit: int) -> list[bytes]:
    """The next pgoutput messages after the confirmed position, whole transactions only.

    PostgreSQL stops after the transaction in which `limit` is reached, so the
    last message is always a Commit (or there are none).
    """
    rows = await connection.fetch(
        "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2,"
        " 'proto_version', '1', 'publication_names', $3, 'messages', 'true')",
        names.slot,
        limit,
        names.publication,
    )
    return [bytes(row["data"]) for row in rows]


async def confirm(connection: asyncpg.Connection, slot: str, lsn: int) -> None:
    """Move the slot past `lsn` (a Commit's end): PostgreSQL may recycle the WAL before it."""
    await connection.execute(
        "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)", slot, format_lsn(lsn)
    )


async def log_running_transactions(connection: asyncpg.Connection) -> bool:
    """Write a running-transactions record to the WAL (PostgreSQL 16+; False where missing).

    A slot's restart point moves only past such a record, and every peek (and
    every advance) decodes from the restart point: PostgreSQL writes one every
    15 s or at a checkpoint, so under steady writes each would re-read up to
    15 s of WAL. The worker writes one every RUNNING_LOG_INTERVAL while busy.
    """
    try:
        await connection.execute("SELECT pg_log_standby_snapshot()")
    except (asyncpg.UndefinedFunctionError, asyncpg.InsufficientPrivilegeError):
        return False
    return True


@dataclass(frozen=True)
class SlotStatus:
    wal_status: str  # reserved | extended | unreserved | lost
    lag_bytes: int  # WAL written since the confirmed position: what is not yet published
    retained_bytes: int  # WAL the slot keeps from being recycled

    @property
    def lost(self) -> bool:
        return self.wal_status == SLOT_LOST


async def slot_status(connection: asyncpg.Connection, slot: str) -> SlotStatus:
    row = await connection.fetchrow(
        "SELECT coalesce(wal_status, '') AS wal_status,"
        " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint AS lag,"
        " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint AS retained"
        " FROM pg_replication_slots WHERE slot_name = $1",
        slot,
    )
    if row is None:
        raise SlotMissing(f"replication slot {slot} does not exist")
    return SlotStatus(row["wal_status"], int(row["lag"]), int(row["retained"]))


async def recreate_slot(connection: asyncpg.Connection, slot: str) -> int:
    """Drop a lost slot and make it afresh; returns the new slot's starting LSN."""
    await connection.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
        slot,
    )
    text = await connection.fetchval(
        "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", slot
    )
    return parse_lsn(str(text))


async def current_rows(
    connection: asyncpg.Connection, schema: str, table: str, key: tuple[str, ...]
) -> list[str]:
    """Every row of a table as JSON text, in key order (for a re-snapshot)."""
    quoted = await connection.fetchval("SELECT format('%I.%I', $1::text, $2::text)", schema, table)
    order = ", ".join([await connection.fetchval("SELECT format('%I', $1::text)", c) for c in key])
    rows = await connection.fetch(
        f"SELECT to_jsonb(t)::text AS row FROM {quoted} t ORDER BY {order or '1'}"
    )
    return [str(row["row"]) for row in rows]
