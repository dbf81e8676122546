"""`python -m protomesh_toolkit.bench.read_model`: the reporting read model's lag and rebuild.

Measured in one run, on one fresh embedded PostgreSQL and one nats-server:

  lag      an OrderPlaced published on ORDER_EVENTS (JetStream's ack) → the
           read model's position reaching it, p50/p99, at a fixed rate; the
           real reporting service (a process, its projector in it) applies
           the events; the position is polled every `--poll` seconds, so the
           figures are that coarse. Queries read the same tables in one
           snapshot, so this is when a query can first see the event.
  rebuild  `--events` events on the streams (orders for many customers, their
           names, some cancellations), the service stopped, then the rebuild:
           replay into a fresh table set and the swap (events/s of the replay,
           and the whole time).

Every phase is bounded in count and time; everything runs on 127.0.0.1 and is
stopped by pid at the end. Figures are printed beside the aims, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from protomesh import runner
from protomesh.bus.connection import connect_nats
from protomesh.bus.publisher import JetStreamPublisher, OutgoingEvent
from protomesh.bus.streams import DEAD_LETTERS, ensure_streams, events_stream
from protomesh.config import Secret
from protomesh.db.pool import create_pool
from protomesh.outbox.naming import schema_version, source_for, subject_for
from protomesh_toolkit.bench.load import percentile
from protomesh_toolkit.bench.processes import HOST, START_TIMEOUT, BenchProcess, free_port
from protomesh_toolkit.bench.write_stack import write_secret
from protomesh_toolkit.codegen import ensure_generated
from protomesh_toolkit.db.provision import provision_service_database
from protomesh_toolkit.embedded.nats import EmbeddedNats
from protomesh_toolkit.embedded.postgres import EmbeddedPostgres

ROLE, SCHEMA = "bench_reporting", "bench_reporting"
PREFIX = "REPORTING_SERVICE_"
STREAMS = (events_stream("order"), events_stream("user"), DEAD_LETTERS)
REBUILD_AIM = 20_000.0  # events/s


@dataclass(frozen=True)
class Options:
    rate: float
    lag_seconds: float
    poll: float
    events: int


@dataclass(frozen=True)
class Stack:
    directory: Path
    postgres: EmbeddedPostgres
    admin_password: str
    role_password: str
    nats_url: str

    def service_environment(self) -> dict[str, str]:
        password_file = self.directory / "role_password"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
        return {
            **inherited,
            "PROTOMESH_INSECURE": "1",  # the bench measures the model, not TLS
            f"{PREFIX}PORT": str(free_port()),
            f"{PREFIX}DATABASE_URL": self.postgres.dsn(user=ROLE),
            f"{PREFIX}DATABASE_PASSWORD_FILE": str(password_file),
            f"{PREFIX}DATABASE_SCHEMA": SCHEMA,
            f"{PREFIX}NATS_URL": self.nats_url,
            f"{PREFIX}LOG_LEVEL": "warning",
        }

    def start_service(self) -> BenchProcess:
        return BenchProcess(
            "reporting",
            [sys.executable, "-m", "services.reporting"],
            self.directory / "reporting.log",
            self.service_environment(),
        )

    async def pool(self) -> asyncpg.Pool:
        return await create_pool(
            self.postgres.dsn(user=ROLE),
            password=Secret(self.role_password),
            schema=SCHEMA,
            application_name="bench-read-model",
            command_timeout=120.0,
        )


@contextlib.contextmanager
def running_stack(directory: Path) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup:
        postgres = EmbeddedPostgres(directory / "pgdata", free_port(), host=HOST)
        admin_password = write_secret(directory / "admin_password")
        postgres.initialise(admin_password)
        postgres.start(START_TIMEOUT)
        cleanup.callback(postgres.stop)
        nats = EmbeddedNats(directory / "jetstream", free_port(), free_port(), host=HOST)
        nats.start(START_TIMEOUT)
        cleanup.callback(nats.stop)
        role_password = write_secret(directory / "role_password")
        yield Stack(directory, postgres, admin_password, role_password, nats.url)


def outgoing(message: Message) -> OutgoingEvent:
    """An event as the outbox relay sends it (the real CloudEvents envelope)."""
    full_name = message.DESCRIPTOR.full_name
    return OutgoingEvent(
        event_id=str(uuid.uuid4()),
        event_type=full_name,
        schema_version=schema_version(full_name),
        subject=subject_for(full_name),
        payload=message.SerializeToString(),
        occurred_at=datetime.now(UTC),
        source=source_for(full_name),
        aggregate_type="bench",
        aggregate_id=str(uuid.uuid4()),
        sequence=0,
    )


def placed(customer: str, amount: int) -> Message:
    from shop.order.events.v1 import events_pb2
    from shop.order.v1 import order_pb2

    return events_pb2.OrderPlaced(
        order_id=str(uuid.uuid4()),
        customer_id=customer,
        total=order_pb2.Money(currency_code="EUR", amount_minor=amount),
    )


async def measure_lag(stack: Stack, js: JetStreamContext, options: Options) -> list[float]:
    """Publish at `rate` for `lag_seconds`; each event's time until the model's position has it."""
    pool = await stack.pool()
    published: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set() or len(seen) < len(published):
            position = await pool.fetchval(
                "SELECT sequence FROM stream_positions WHERE stream = 'ORDER_EVENTS'"
            )
            now = time.perf_counter()
            for sequence in [s for s in published if s not in seen and s <= (position or 0)]:
                seen[sequence] = now
            await asyncio.sleep(options.poll)
            if done.is_set() and time.perf_counter() > deadline:
                return

    deadline = time.perf_counter() + options.lag_seconds + 30.0
    watcher = asyncio.create_task(watch())
    customers = [str(uuid.uuid4()) for _ in range(100)]
    interval = 1.0 / options.rate
    count = int(options.rate * options.lag_seconds)
    started = time.perf_counter()
    try:
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
            event = outgoing(placed(customers[n % len(customers)], 1))
            sent = time.perf_counter()
            ack = await js.publish(event.subject, event.payload, headers=event.headers())
            published[ack.seq] = sent
        done.set()
        await watcher
    finally:
        done.set()
        watcher.cancel()
        await pool.close()
    return sorted(seen[s] - published[s] for s in seen)


async def fill_history(stack: Stack, events: int) -> float:
    """Put `events` events on the streams; returns the seconds it took."""
    from shop.order.events.v1 import events_pb2 as order_events
    from shop.user.events.v1 import events_pb2 as user_events

    client = await connect_nats(stack.nats_url, name="bench-history")
    publisher = JetStreamPublisher(client, max_in_flight=1024)
    customers = [str(uuid.uuid4()) for _ in range(max(1, events // 50))]
    batch: list[OutgoingEvent] = []
    started = time.perf_counter()
    try:
        for n in range(events):
            customer = customers[n % len(customers)]
            if n < len(customers):
                message: Message = user_events.UserRegistered(user_id=customer, display_name="c")
            elif n % 10 == 0:
                message = order_events.OrderCancelled(order_id=f"{n}", customer_id=customer)
            else:
                message = placed(customer, n % 1000)
            batch.append(outgoing(message))
            if len(batch) == 5000 or n == events - 1:
                errors = [e for e in await publisher.publish_all(batch) if e is not None]
                if errors:
                    raise RuntimeError(f"{len(errors)} events not published: {errors[0]!r}")
                batch = []
    finally:
        await client.close()
    return time.perf_counter() - started


async def measure_and_report(stack: Stack, options: Options) -> None:
    from services.reporting.rebuild import rebuild

    admin = await asyncpg.connect(stack.postgres.dsn(), password=stack.admin_password)
    try:
        await provision_service_database(
            admin, role=ROLE, password=Secret(stack.role_password), schema=SCHEMA
        )
    finally:
        await admin.close()
    client = await connect_nats(stack.nats_url, name="bench-read-model")
    js = client.jetstream()
    await ensure_streams(js, STREAMS)
    service = stack.start_service()
    try:
        await _projector_attached(js, service)
        lags = await measure_lag(stack, js, options)
    finally:
        service.stop()
    if lags:
        print(
            f"read-model lag (published → visible), {len(lags)} events at {options.rate:.0f}/s:"
            f" p50 {percentile(lags, 50) * 1000:.1f} ms, p99 {percentile(lags, 99) * 1000:.1f} ms"
            f" (polled every {options.poll * 1000:.0f} ms)"
        )
    else:
        print("read-model lag: no event became visible (see the service log)")

    fill_seconds = await fill_history(stack, options.events)
    print(f"history: {options.events} events published in {fill_seconds:.1f}s")
    pool = await stack.pool()
    try:
        started = time.perf_counter()
        report = await rebuild(pool, js)
        whole = time.perf_counter() - started
    finally:
        await pool.close()
        await client.close()
    total = report.events + report.skipped
    print(
        f"rebuild: {report.events} events applied ({report.skipped} skipped) in "
        f"{report.seconds:.2f}s = {report.events_per_second:,.0f} events/s "
        f"(aim ≥ {REBUILD_AIM:,.0f}: {report.events_per_second / REBUILD_AIM:.2f}x the aim); "
        f"with the swap {whole:.2f}s; {total} events read"
    )


async def _projector_attached(js: JetStreamContext, service: BenchProcess) -> None:
    """Wait until the service's projector has declared its consumer (it reads from then on)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.popen.poll() is not None:
            raise RuntimeError(f"reporting exited {service.popen.returncode}:\n{service.tail()}")
        try:
            await js.consumer_info("ORDER_EVENTS", "reporting-orders")
        except NotFoundError:
            await asyncio.sleep(0.1)
        else:
            return
    raise TimeoutError(f"the reporting projector never attached:\n{service.tail()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m protomesh_toolkit.bench.read_model")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s for the lag")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--poll", type=float, default=0.002, help="seconds between position reads")
    parser.add_argument("--events", type=int, default=100_000, help="history for the rebuild")
    options = Options(**vars(parser.parse_args(argv)))
    ensure_generated()
    with (
        tempfile.TemporaryDirectory(prefix="pm-bench-read-") as scratch,
        running_stack(Path(scratch)) as stack,
    ):
        runner.run(lambda: measure_and_report(stack, options))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
