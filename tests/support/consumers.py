"""Helpers for consumer tests: publish events as the relay does, read dead letters,
give a test a schema of its own, and wait for a condition without asserting timings."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from protomesh.bus.cloudevents import CE_ID, CE_SOURCE, CE_TYPE, MSG_ID, SCHEMA_VERSION
from protomesh.bus.processed import install_processed_events
from protomesh.bus.streams import DEAD_LETTERS
from tests.support.postgres import Postgres, fresh_schema_pool


def event_headers(
    event_id: str, message: Message, *, schema_version: str = "1", msg_id: bool = True
) -> dict[str, str]:
    """The envelope the outbox relay sets; `msg_id=False` lets JetStream store a repeat."""
    headers = {
        CE_ID: event_id,
        CE_TYPE: message.DESCRIPTOR.full_name,
        CE_SOURCE: "/tests",
        SCHEMA_VERSION: schema_version,
    }
    if msg_id:
        headers[MSG_ID] = event_id
    return headers


async def publish_event(
    js: JetStreamContext,
    subject: str,
    message: Message,
    event_id: str | None = None,
    *,
    schema_version: str = "1",
    msg_id: bool = True,
) -> str:
    """Publish `message` as an event; returns its id."""
    event_id = event_id or secrets.token_hex(8)
    headers = event_headers(event_id, message, schema_version=schema_version, msg_id=msg_id)
    await js.publish(subject, message.SerializeToString(), headers=headers, timeout=5)
    return event_id


async def dead_letters(js: JetStreamContext, subject_filter: str, expected: int) -> list[Msg]:
    """The dead letters under `subject_filter`, once at least `expected` are there (10 s)."""
    found: list[Msg] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        subscription = await js.pull_subscribe(
            subject_filter,
            stream=DEAD_LETTERS.name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=5.0),
        )
        try:
            found = await subscription.fetch(max(expected, 1) + 10, timeout=0.5)
        except TimeoutError:
            found = []
        finally:
            await subscription.unsubscribe()
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{len(found)} dead letters under {subject_filter}, wanted {expected}")


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll `condition` until true; fail after `within` seconds (never a timing assertion)."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition still false after {within}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def schema_pool(postgres: Postgres, *sql: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh schema holding `processed_events` and the given DDL."""

    async def statements(connection: asyncpg.pool.PoolConnectionProxy) -> None:
        for statement in sql:
            await connection.execute(statement)

    async with fresh_schema_pool(
        postgres, install_processed_events, statements, prefix="consumers"
    ) as pool:
        yield pool
