"""The reporting service as a real process for one test, and ways to feed and read it.

Events are published as the outbox relay publishes them (`OutgoingEvent`, so
the CloudEvents envelope is the real one); the read model's tables are read
straight from the service's schema to compare a live model with a rebuilt one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from google.protobuf.message import Message
from nats.js import JetStreamContext

from protomesh.bus.publisher import JetStreamPublisher, OutgoingEvent
from protomesh.outbox.naming import schema_version, source_for, subject_for
from protomesh.paths import ROOT
from tests.support import mesh_tls
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

PREFIX = "REPORTING_SERVICE_"
# Everything a table set holds, in a comparable order (times of application left out).
MODEL_QUERIES = (
    "SELECT customer_id, display_name, orders_placed, orders_cancelled, spent::text,"
    " last_order_time FROM customer_summaries ORDER BY customer_id",
    "SELECT order_id, customer_id, currency_code, amount_minor, cancelled FROM order_totals"
    " ORDER BY order_id",
    "SELECT stream, sequence, event_time FROM stream_positions ORDER BY stream",
    "SELECT consumer, event_id FROM applied_events ORDER BY consumer, event_id",
)


def reporting_service(postgres: Postgres, directory: Path, nats_url: str) -> ServiceProcess:
    """A reporting service with its own role and schema, reading `nats_url`'s streams."""
    suffix = secrets.token_hex(3)
    role, schema = f"reporting_svc_{suffix}", f"reporting_{suffix}"
    password_file = directory / f"{role}_password"
    password = secrets.token_urlsafe(16)
    password_file.write_text(password)
    postgres.provision(role, password, schema)  # the service gets no admin secret
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(PREFIX)},
        f"{PREFIX}PORT": str(port),
        f"{PREFIX}DATABASE_URL": postgres.dsn_for(role),
        f"{PREFIX}DATABASE_PASSWORD_FILE": str(password_file),
        f"{PREFIX}DATABASE_SCHEMA": schema,
        f"{PREFIX}READINESS_INTERVAL": "0.1",
        f"{PREFIX}NATS_URL": nats_url,
        **mesh_tls.service_environment(PREFIX, "reporting"),
    }
    return ServiceProcess("reporting", port, directory / f"reporting-{suffix}.log", env)


def rebuild_command(service: ServiceProcess) -> subprocess.CompletedProcess[str]:
    """`python -m services.reporting rebuild` with the service's own settings."""
    return subprocess.run(
        [sys.executable, "-m", "services.reporting", "rebuild"],
        cwd=ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def model_pool(postgres: Postgres, service: ServiceProcess) -> asyncpg.Pool:
    """A pool on the service's schema, as the administrator (to read the model)."""
    pool = await asyncpg.create_pool(
        postgres.admin_dsn,
        password=postgres.password,
        min_size=1,
        max_size=2,
        server_settings={"search_path": service.env[f"{PREFIX}DATABASE_SCHEMA"]},
    )
    assert pool is not None
    return pool


async def model_rows(pool: asyncpg.Pool) -> list[list[tuple[object, ...]]]:
    """The whole read model, table by table, in a fixed order."""
    async with pool.acquire() as connection:
        return [[tuple(row) for row in await connection.fetch(sql)] for sql in MODEL_QUERIES]


class EventSource:
    """Publishes events onto the real streams exactly as the outbox relay does."""

    def __init__(self, js: JetStreamContext, publisher: JetStreamPublisher) -> None:
        self.js = js
        self.publisher = publisher

    def event(self, message: Message, *, event_id: str | None = None) -> OutgoingEvent:
        full_name = message.DESCRIPTOR.full_name
        return OutgoingEvent(
            event_id=event_id or str(uuid.uuid4()),
            event_type=full_name,
            schema_version=schema_version(full_name),
            subject=subject_for(full_name),
            payload=message.SerializeToString(),
            occurred_at=datetime.now(UTC),
            source=source_for(full_name),
            aggregate_type="test",
            aggregate_id=str(uuid.uuid4()),
            sequence=0,
        )

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        results = await self.publisher.publish_all(events)
        assert results == [None] * len(events), results

    async def last_sequence(self, stream: str) -> int:
        return int((await self.js.stream_info(stream)).state.last_seq)
