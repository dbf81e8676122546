"""An outbox of its own for one test: a role, a schema, the table, and ways to read results.

Events are `shop.order.events.v1.OrderCancelled` messages (so they land in the
ORDER_EVENTS stream on `order.events.v1.OrderCancelled`); each test uses fresh
aggregate ids, so tests sharing a stream can tell their messages apart.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from shop.order.events.v1 import events_pb2

from protomesh.config import Secret
from protomesh.db.pool import create_pool
from protomesh.outbox import OutboxDatabase, append_event, install_outbox, notify_relay
from protomesh.outbox.settings import PREFIX
from protomesh.paths import ROOT
from protomesh_toolkit.db.provision import provision_service_database
from tests.support.postgres import Postgres

ORDER_STREAM = "ORDER_EVENTS"


@dataclass
class ScratchOutbox:
    database: OutboxDatabase
    pool: asyncpg.Pool

    async def write(self, aggregate_id: str, sequence: int, *, notify: bool = True) -> str:
        """Commit one event in its own transaction; returns its id."""
        event = events_pb2.OrderCancelled(order_id=aggregate_id, reason=f"step {sequence}")
        async with self.pool.acquire() as connection:
            async with connection.transaction():
                event_id = await append_event(
                    connection,
                    aggregate_type="order",
                    aggregate_id=aggregate_id,
                    sequence=sequence,
                    event=event,
                    headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
                )
            if notify:
                await notify_relay(connection)
        return str(event_id)

    async def write_many(self, aggregates: int, per_aggregate: int) -> list[str]:
        """Events for fresh aggregates in one transaction, interleaved across aggregates."""
        ids = [str(uuid.uuid4()) for _ in range(aggregates)]
        written: list[str] = []
        async with self.pool.acquire() as connection:
            async with connection.transaction():
                for sequence in range(per_aggregate):
                    for aggregate_id in ids:
                        event = events_pb2.OrderCancelled(order_id=aggregate_id)
                        event_id = await append_event(
                            connection,
                            aggregate_type="order",
                            aggregate_id=aggregate_id,
                            sequence=sequence,
                            event=event,
                        )
                        written.append(str(event_id))
            await notify_relay(connection)
        return written

    async def unpublished(self) -> int:
        return int(
            await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )

    async def close(self) -> None:
        await self.pool.close()


async def create_outbox(postgres: Postgres) -> ScratchOutbox:
    suffix = secrets.token_hex(3)
    role, schema = f"outbox_svc_{suffix}", f"outbox_{suffix}"
    password = Secret(secrets.token_urlsafe(16))
    admin = await postgres.connect()
    try:
        await provision_service_database(admin, role=role, password=password, schema=schema)
    finally:
        await admin.close()
    database = OutboxDatabase(postgres.dsn_for(role), password, schema)
    pool = await create_pool(
        database.url, password=password, schema=schema, application_name="outbox-test"
    )
    async with pool.acquire() as connection:
        await install_outbox(connection)
    return ScratchOutbox(database, pool)


async def stream_messages(js: JetStreamContext, stream: str = ORDER_STREAM) -> list[RawStreamMsg]:
    """Every message the stream holds, in stream order (direct reads, no consumer)."""
    info = await js.stream_info(stream)
    messages: list[RawStreamMsg] = []
    if info.state.messages == 0:
        return messages
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            messages.append(await js.get_msg(stream, sequence))
        except NotFoundError:
            continue
    return messages


def ids_in(messages: Iterable[RawStreamMsg], wanted: Iterable[str]) -> list[str]:
    """The `Nats-Msg-Id`s of the messages that carry one of `wanted`, in stream order."""
    wanted_ids = set(wanted)
    found = [(m.headers or {}).get("Nats-Msg-Id", "") for m in messages]
    return [i for i in found if i in wanted_ids]


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    within: float = 20.0,
    message: str = "",
    every: float = 0.05,
) -> None:
    """Poll until `condition` holds; fail after `within` seconds (never a timing assertion)."""
    try:
        async with asyncio.timeout(within):
            while not await condition():
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"not true within {within}s: {message}") from None


@dataclass
class RelayProcess:
    """`python -m protomesh.outbox` (or another worker `module`) in its own process group."""

    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    module: str = "protomesh.outbox"

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit — a crash mid-batch."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def relay_process(
    database: OutboxDatabase, nats_url: str, directory: Path, **settings: str
) -> RelayProcess:
    """A stand-alone relay for `database`'s outbox; `settings` are OUTBOX_RELAY_* values."""
    password_file = directory / f"{database.schema}_relay_password"
    assert database.password is not None
    password_file.write_text(database.password.reveal())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(PREFIX)},
        f"{PREFIX}DATABASE_URL": database.url,
        f"{PREFIX}DATABASE_PASSWORD_FILE": str(password_file),
        f"{PREFIX}DATABASE_SCHEMA": database.schema,
        f"{PREFIX}NATS_URL": nats_url,
        f"{PREFIX}LOG_LEVEL": "debug",
        **{f"{PREFIX}{k.upper()}": v for k, v in settings.items()},
    }
    return RelayProcess(env, directory / f"relay-{database.schema}.log")
