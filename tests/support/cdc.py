"""Change capture for one test: the order tables in a schema of their own, a worker process,
and the changes it published, decoded.

Each test gets its own context name (`order_<hex>`), so its slot, publication
and stream (`ORDER_<HEX>_CHANGES`) are its own on the session's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from shop.order.changes.v1 import changes_pb2

from protomesh.cdc import slot
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.settings import PREFIX
from protomesh.config import Secret
from protomesh.db.migrations import migrate
from protomesh_toolkit.db.provision import provision_service_database
from services.order.bootstrap import MIGRATIONS
from tests.support.outbox import RelayProcess, eventually, stream_messages
from tests.support.postgres import Postgres

ORDERS_MESSAGE = "orders=shop.order.changes.v1.OrderChanged"


@dataclass
class ScratchOrders:
    """The order service's tables (its own migrations) under a fresh role and schema."""

    names: CaptureNames
    role: str
    schema: str
    pool: asyncpg.Pool

    async def place(self, count: int, *, per_transaction: int = 1) -> list[str]:
        """Insert `count` orders, `per_transaction` to a transaction; returns their ids."""
        ids = [str(uuid.uuid4()) for _ in range(count)]
        for start in range(0, count, per_transaction):
            async with self.pool.acquire() as connection, connection.transaction():
                for order_id in ids[start : start + per_transaction]:
                    await connection.execute(
                        "INSERT INTO orders (id, customer_id, items, currency, total_minor,"
                        " status, version, created_at, updated_at)"
                        " VALUES ($1, $2, $3, 'EUR', 1250, 'PENDING', 1, now(), now())",
                        uuid.UUID(order_id),
                        uuid.uuid4(),
                        json.dumps([{"sku": "book", "quantity": 1}]),
                    )
        return ids

    async def cancel(self, order_id: str) -> None:
        await self.pool.execute(
            "UPDATE orders SET status = 'CANCELLED', version = version + 1, updated_at = now()"
            " WHERE id = $1",
            uuid.UUID(order_id),
        )

    async def delete(self, order_id: str) -> None:
        await self.pool.execute("DELETE FROM orders WHERE id = $1", uuid.UUID(order_id))

    async def rows(self) -> dict[str, tuple[str, int]]:
        """id → (status, version), as the table holds them now."""
        records = await self.pool.fetch("SELECT id, status, version FROM orders")
        return {str(r["id"]): (r["status"], r["version"]) for r in records}


async def scratch_orders(postgres: Postgres) -> ScratchOrders:
    suffix = secrets.token_hex(3)
    role, schema = f"order_svc_{suffix}", f"orders_{suffix}"
    password = Secret(secrets.token_urlsafe(16))
    admin = await postgres.connect()
    try:
        await provision_service_database(admin, role=role, password=password, schema=schema)
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(
        postgres.dsn_for(role),
        password=password.reveal(),
        min_size=1,
        max_size=4,
        server_settings={"search_path": schema},
    )
    async with pool.acquire() as connection:
        await migrate(connection, schema, MIGRATIONS)
    return ScratchOrders(CaptureNames(f"order_{suffix}"), role, schema, pool)


def cdc_process(
    postgres: Postgres, orders: ScratchOrders, nats_url: str, directory: Path, **settings: str
) -> RelayProcess:
    """`python -m protomesh.cdc` for the scratch tables, set up as the admin first."""
    return watching(
        postgres,
        orders.names,
        orders.role,
        orders.schema,
        nats_url=nats_url,
        directory=directory,
        **settings,
    )


def watching(
    postgres: Postgres,
    names: CaptureNames,
    service_role: str,
    schema: str,
    *,
    nats_url: str,
    directory: Path,
    **settings: str,
) -> RelayProcess:
    """A worker for the `orders` table in `schema`, logging in as `<service_role>_cdc`.

    Its role, grants, publication and slot are made first, as the admin, as
    `protomesh db provision --cdc` does: the worker itself gets no admin setting.
    """
    role = f"{service_role}_cdc"
    password_file = directory / f"{role}_password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(16))
    set_up = slot.prepare_from_admin(
        postgres.admin_dsn,
        Secret(postgres.password),
        names,
        role=role,
        password=Secret(password_file.read_text()),
        schema=schema,
        tables=["orders"],
    )
    # Called from async tests: the set-up runs on a loop of its own, in a thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, set_up).result(timeout=30)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(PREFIX)},
        f"{PREFIX}CONTEXT": names.context,
        f"{PREFIX}TABLES": ORDERS_MESSAGE,
        f"{PREFIX}DATABASE_URL": postgres.dsn_for(role),
        f"{PREFIX}DATABASE_PASSWORD_FILE": str(password_file),
        f"{PREFIX}DATABASE_SCHEMA": schema,
        f"{PREFIX}NATS_URL": nats_url,
        f"{PREFIX}NAME": f"cdc-{names.context}",
        f"{PREFIX}LOG_LEVEL": "debug",
        **{f"{PREFIX}{k.upper()}": v for k, v in settings.items()},
    }
    return RelayProcess(env, directory / f"cdc-{names.context}.log", module="protomesh.cdc")


@dataclass(frozen=True)
class Received:
    message_id: str
    change: changes_pb2.OrderChanged


async def received(js: JetStreamContext, names: CaptureNames) -> list[Received]:
    """Every change the stream holds, in stream order."""
    return [
        Received(
            (m.headers or {}).get("Nats-Msg-Id", ""),
            changes_pb2.OrderChanged.FromString(m.data or b""),
        )
        for m in await stream_messages(js, names.stream.name)
    ]


async def running(worker: RelayProcess, js: JetStreamContext, names: CaptureNames) -> None:
    """Start a worker and wait until its slot exists (it declares the stream just after):
    only changes committed from then on are in the slot."""
    worker.start()
    await eventually(lambda: _has_stream(js, names), message="the worker set up")


async def _has_stream(js: JetStreamContext, names: CaptureNames) -> bool:
    try:
        await js.stream_info(names.stream.name)
    except NotFoundError:
        return False
    return True


async def stored_count(js: JetStreamContext, names: CaptureNames) -> int:
    try:
        return int((await js.stream_info(names.stream.name)).state.messages)
    except NotFoundError:  # not created yet: the worker declares it on connecting
        return 0


async def confirmed_lsn(postgres: Postgres, names: CaptureNames) -> int:
    """The slot's confirmed position (what the worker has acknowledged to PostgreSQL)."""
    admin = await postgres.connect()
    try:
        text = await admin.fetchval(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            names.slot,
        )
    finally:
        await admin.close()
    high, _, low = str(text).partition("/")
    return (int(high, 16) << 32) | int(low, 16)


async def drop_capture(postgres: Postgres, names: CaptureNames) -> None:
    """Drop a test's slot and publication: a slot left behind would hold WAL for ever."""
    admin = await postgres.connect()
    try:
        await admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = $1 AND NOT active",
            names.slot,
        )
        await admin.execute(f"DROP PUBLICATION IF EXISTS {names.publication}")
    finally:
        await admin.close()
