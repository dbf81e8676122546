"""Run the change-capture benchmark's phases in order and print each figure as it comes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from nats.js import JetStreamContext

from protomesh.bus.connection import connect_nats
from protomesh.bus.streams import ensure_streams
from protomesh.cdc import CaptureDatabase, CaptureNames, ChangeCapture
from protomesh.cdc.settings import PREFIX, CaptureSettings
from protomesh.config import Secret
from protomesh.outbox import OutboxRelay, RelaySettings
from protomesh_toolkit.bench import cdc_measures, write_measures
from protomesh_toolkit.bench.processes import BenchProcess
from protomesh_toolkit.bench.write_measures import Lag, Rate
from protomesh_toolkit.bench.write_stack import (
    SCHEMA,
    WriteStack,
    connected,
    prepare_database,
    write_secret,
)
from services.order.streams import ORDER_EVENTS

NAMES = CaptureNames("order")
TABLES = {"orders": "shop.order.changes.v1.OrderChanged"}
CDC_ROLE = "bench_cdc"
SETTLE = 10.0


@dataclass(frozen=True)
class CdcOptions:
    changes: int
    seconds: float
    rate: float
    lag_seconds: float
    poll_interval: float


async def measure_and_report(stack: WriteStack, options: CdcOptions) -> None:
    await prepare_database(stack)
    client = await connect_nats(stack.nats_url, name="bench", max_reconnect_attempts=3)
    js = client.jetstream()
    await ensure_streams(js, [ORDER_EVENTS, NAMES.stream])
    print(
        "change capture vs the outbox relay: PostgreSQL (wal_level=logical) and nats-server"
        " (JetStream, file storage) on loopback",
        flush=True,
    )
    database = _cdc_database(stack)
    settings = CaptureSettings(poll_interval=options.poll_interval)
    try:
        await _report(stack, options, js, database, settings)
    finally:
        await client.close()


async def _report(
    stack: WriteStack,
    options: CdcOptions,
    js: JetStreamContext,
    database: CaptureDatabase,
    settings: CaptureSettings,
) -> None:
    # Make the slot (an empty drain), then write while no worker reads it.
    await cdc_measures.cdc_drain(_capture(stack, database, settings), 1, 10.0)
    async with connected(stack) as connection:
        await cdc_measures.write_changes(connection, options.changes)
    drained = await cdc_measures.cdc_drain(
        _capture(stack, database, settings), options.changes, options.seconds
    )
    _row(
        f"CDC: committed row changes → JetStream acks ({cdc_measures.ROWS_PER_TRANSACTION}"
        " rows per transaction)",
        drained,
        "changes/s",
    )
    async with connected(stack) as connection:
        await write_measures.fill_outbox(connection, options.changes)
    relay = OutboxRelay(stack.database, stack.nats_url, RelaySettings(), name="bench-relay")
    relayed = await write_measures.relay_drain(relay, options.changes, options.seconds)
    _row("outbox relay: committed rows → JetStream acks", relayed, "events/s")

    worker = _worker_process(stack, database, options)
    relay_process = stack.start_relay("bench-relay-process")
    pool = await stack.pool(8)
    try:
        subjects = {"cdc": NAMES.subject("orders"), "outbox": write_measures.SUBJECT}
        primer = await cdc_measures.both_lags(
            pool, js, subjects=subjects, rate=1.0, seconds=1.0, settle=30.0
        )
        if primer.cdc.received != primer.cdc.sent:
            raise RuntimeError(f"the CDC worker published nothing:\n{worker.tail()}")
        lags = await cdc_measures.both_lags(
            pool,
            js,
            subjects=subjects,
            rate=options.rate,
            seconds=options.lag_seconds,
            settle=SETTLE,
        )
    finally:
        await pool.close()
        worker.stop()
        relay_process.stop()
    _lag_row("CDC worker (WAL)", lags.cdc, options)
    _lag_row("outbox relay (LISTEN/NOTIFY)", lags.outbox, options)
    print("against the aims (2 cores):")
    print(f"  CDC p99 commit → consumer at {options.rate:g}/s: {lags.cdc.p99_ms:.1f} ms (aim ≤ 50)")
    ratio = drained.per_second / relayed.per_second if relayed.per_second else 0.0
    print(f"  CDC drain ÷ relay drain: {ratio:.2f}")


def _cdc_database(stack: WriteStack) -> CaptureDatabase:
    password = write_secret(stack.directory / "cdc_password")
    return CaptureDatabase(
        stack.dsn_for(CDC_ROLE),
        Secret(password),
        SCHEMA,
        stack.admin_dsn,
        Secret(stack.admin_password),
    )


def _capture(
    stack: WriteStack, database: CaptureDatabase, settings: CaptureSettings
) -> ChangeCapture:
    return ChangeCapture(NAMES, database, TABLES, stack.nats_url, settings, name="bench-cdc")


def _worker_process(
    stack: WriteStack, database: CaptureDatabase, options: CdcOptions
) -> BenchProcess:
    """`python -m protomesh.cdc`, as deployed; ready once it has published the primer."""
    values = {
        "CONTEXT": NAMES.context,
        "TABLES": ",".join(f"{table}={message}" for table, message in TABLES.items()),
        "DATABASE_URL": database.url,
        "DATABASE_PASSWORD_FILE": str(stack.directory / "cdc_password"),
        "DATABASE_SCHEMA": SCHEMA,
        "NATS_URL": stack.nats_url,
        "POLL_INTERVAL": str(options.poll_interval),
        "NAME": "bench-cdc-process",
        "LOG_LEVEL": "warning",
    }
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return BenchProcess(
        "bench-cdc-process",
        [sys.executable, "-m", "protomesh.cdc"],
        stack.directory / "bench-cdc-process.log",
        {**inherited, **{PREFIX + k: v for k, v in values.items()}},
    )


def _row(label: str, rate: Rate, unit: str) -> None:
    print(
        f"  {label}: {rate.per_second:,.0f} {unit} ({rate.count} in {rate.seconds:.2f} s)",
        flush=True,
    )


def _lag_row(label: str, lag: Lag, options: CdcOptions) -> None:
    print(
        f"  lag, commit → JetStream consumer at {lag.rate:g}/s for {options.lag_seconds:g} s,"
        f" {label}: p50 {lag.p50_ms:.1f} ms, p99 {lag.p99_ms:.1f} ms, max {lag.max_ms:.1f} ms"
        f" ({lag.received}/{lag.sent} received)",
        flush=True,
    )
