"""ChangeCapture: publish every committed change of the watched tables to JetStream, once.

One loop: peek the slot (whole transactions), decode, publish every change
with bounded in-flight acks, and only when *all* are acknowledged, advance
the slot past the last commit. The dedupe id of a change is its WAL position
(`<slot>:<commit LSN>:<index in the transaction>`), so whatever happens
between a publish and the advance — a kill -9, PostgreSQL or NATS going away
— the next pass re-reads the same changes and JetStream drops the copies it
already holds. Nothing is skipped: the slot never moves past an unacknowledged
change.

The worker polls the *slot* (the WAL), never the tables: after an empty peek
it waits `poll_interval`, doubling while idle up to `idle_poll_interval`
(docs/cdc.md has the costs). Every `status_interval` it reads the slot's lag and health;
an invalidated slot (PostgreSQL dropped WAL it needed, past
`max_slot_wal_keep_size`) is reported loudly, re-made, and the watched
tables are re-published whole as OPERATION_SNAPSHOT events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
from nats.aio.client import Client

from protomesh.bus.connection import connect_nats
from protomesh.bus.publisher import PUBLISH_ERRORS, JetStreamPublisher, OutgoingEvent
from protomesh.bus.streams import ensure_streams
from protomesh.cdc import slot
from protomesh.cdc.batch import read_batch
from protomesh.cdc.events import TableEvents
from protomesh.cdc.metrics import instruments
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.resnapshot import snapshot_events
from protomesh.cdc.settings import CaptureSettings
from protomesh.config import Secret
from protomesh.tls.files import TlsFiles

log = logging.getLogger("protomesh.cdc")


RUNNING_LOG_INTERVAL = 0.2  # seconds; each is a ~50-byte WAL record, only while busy


class NotAcknowledged(Exception):
    """JetStream did not acknowledge every change of a batch: it is read again."""


_DEPENDENCY_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    slot.TablesMissing,
    NotAcknowledged,
    *PUBLISH_ERRORS,
)


@dataclass(frozen=True)
class CaptureDatabase:
    """Where the watched tables are, and how the worker logs in.

    `admin_url` sets everything up first, for an embedding that holds the
    admin anyway (a test); `python -m protomesh.cdc` never gets one: there the
    set-up is `protomesh db provision --cdc`'s.
    """

    url: str
    password: Secret | None
    schema: str
    admin_url: str | None = None
    admin_password: Secret | None = None


class ChangeCapture:
    """A Worker (`start`/`stop`) publishing one context's watched tables' changes."""

    def __init__(
        self,
        names: CaptureNames,
        database: CaptureDatabase,
        tables: Mapping[str, str],
        nats_servers: str,
        settings: CaptureSettings | None = None,
        *,
        name: str = "cdc",
        tls: TlsFiles | None = None,
    ) -> None:
        """`tables` maps each watched table to the full name of its change message;
        `tls` is the worker's certificate, for a tls:// NATS."""
        self._names = names
        self._database = database
        self._tables = dict(tables)
        self._servers = nats_servers
        self._settings = settings or CaptureSettings()
        self._name = name
        self._tls = tls
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._metrics = instruments()
        self._next_status = 0.0
        self._log_running = True  # until PostgreSQL lacks (or refuses) pg_log_standby_snapshot
        self._next_running_log = 0.0
        self._capturing = False  # the current session got as far as reading the slot
        self.published = 0  # changes acknowledged since start

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self._name)
        log.info("change capture started", extra=self._context())

    async def stop(self) -> None:
        """Stop at once: an unconfirmed batch is simply read and published again next time."""
        if self._task is None:
            return
        self._stop.set()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        log.info("change capture stopped", extra={**self._context(), "published": self.published})

    async def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            self._capturing = False
            try:
                await self._session()
            except _DEPENDENCY_ERRORS as error:
                # A session that got going starts its backoff afresh.
                delay = 0.0 if self._capturing else delay
                delay = min(max(delay * 2, 0.1), self._settings.max_backoff)
                level = logging.INFO if isinstance(error, slot.TablesMissing) else logging.WARNING
                log.log(
                    level,
                    "change capture waiting for a dependency; retrying in %.1fs",
                    delay,
                    extra={**self._context(), "error": repr(error)},
                )
                await self._pause(delay)
            except Exception:
                log.exception("change capture failed; retrying", extra=self._context())
                await self._pause(self._settings.max_backoff)

    async def _session(self) -> None:
        """Set up, connect, and publish until stopped or a dependency fails."""
        database = self._database
        if database.admin_url is not None:
            if database.password is None:
                raise ValueError("the worker's role needs a password to be created")
            await slot.prepare_from_admin(
                database.admin_url,
                database.admin_password,
                self._names,
                role=_role_of(database.url),
                password=database.password,
                schema=database.schema,
                tables=list(self._tables),
            )
        connection = await asyncpg.connect(
            database.url,
            password=database.password.reveal() if database.password else None,
            timeout=5.0,
            command_timeout=max(30.0, self._settings.ack_timeout * 2),
            server_settings={"application_name": self._name},
        )
        client: Client | None = None
        try:
            keys = await slot.primary_keys(connection, database.schema, list(self._tables))
            builders = {}
            for table, message in self._tables.items():
                if table not in keys:
                    raise ValueError(f"{database.schema}.{table} has no primary key to key changes")
                builders[table] = TableEvents(self._names, table, message, keys[table])
            client = await connect_nats(self._servers, name=self._name, tls=self._tls)
            await ensure_streams(client.jetstream(), [self._names.stream])
            publisher = JetStreamPublisher(
                client,
                max_in_flight=self._settings.max_in_flight,
                ack_timeout=self._settings.ack_timeout,
            )
            self._next_status = 0.0  # a lost slot is found before the first peek fails on it
            await self._status_when_due(connection, builders, publisher)
            log.info("change capture connected", extra=self._context())
            self._capturing = True
            idle = 0.0
            while not self._stop.is_set():
                await self._status_when_due(connection, builders, publisher)
                batch = await read_batch(
                    connection, self._names, self._settings.batch_size, builders
                )
                if batch.events:
                    await self._publish(publisher, batch.events)
                if batch.last_commit_end is not None:
                    await slot.confirm(connection, self._names.slot, batch.last_commit_end)
                    await self._move_restart_point(connection)
                if batch.events:
                    idle = 0.0
                else:  # wait longer the longer nothing happens: an idle peek costs CPU
                    idle = min(max(idle * 2, self._settings.poll_interval), self._longest_idle)
                    await self._pause(idle)
        finally:
            if client is not None:
                await client.close()
            connection.terminate()

    async def _publish(
        self, publisher: JetStreamPublisher, events: list[tuple[str, OutgoingEvent]]
    ) -> None:
        """Publish and wait for every ack; any failure raises (the slot is not advanced)."""
        results = await publisher.publish_all([event for _, event in events])
        failed = [error for error in results if error is not None]
        if failed:
            raise NotAcknowledged(f"{len(failed)} of {len(events)} changes not acknowledged") from (
                failed[0]
            )
        now = datetime.now(UTC)
        for table, event in events:
            self._metrics.published.labels(table).inc()
            lag = max(0.0, (now - event.occurred_at).total_seconds())
            self._metrics.commit_lag.labels(table).observe(lag)
        self.published += len(events)

    @property
    def _longest_idle(self) -> float:
        return max(self._settings.poll_interval, self._settings.idle_poll_interval)

    async def _move_restart_point(self, connection: asyncpg.Connection) -> None:
        """While busy, let the slot's restart point follow (slot.py says why), a few times a
        second: every peek and every advance re-decode from there."""
        if not self._log_running or time.monotonic() < self._next_running_log:
            return
        self._next_running_log = time.monotonic() + RUNNING_LOG_INTERVAL
        self._log_running = await slot.log_running_transactions(connection)

    async def _status_when_due(
        self,
        connection: asyncpg.Connection,
        builders: Mapping[str, TableEvents],
        publisher: JetStreamPublisher,
    ) -> None:
        if time.monotonic() < self._next_status:
            return
        self._next_status = time.monotonic() + self._settings.status_interval
        status = await slot.slot_status(connection, self._names.slot)
        self._metrics.lag_bytes.labels(self._names.slot).set(status.lag_bytes)
        self._metrics.retained_bytes.labels(self._names.slot).set(status.retained_bytes)
        if status.lost:
            await self._resnapshot(connection, builders, publisher)

    async def _resnapshot(
        self,
        connection: asyncpg.Connection,
        builders: Mapping[str, TableEvents],
        publisher: JetStreamPublisher,
    ) -> None:
        """The slot lost WAL it needed: say so, re-make it, publish the tables as they are now."""
        log.error(
            "replication slot %s was invalidated (it held more WAL than max_slot_wal_keep_size "
            "allows): changes committed while it was lost are gone; re-making the slot and "
            "publishing a snapshot of %s",
            self._names.slot,
            ", ".join(builders),
            extra=self._context(),
        )
        self._metrics.invalidations.labels(self._names.slot).inc()
        start = await slot.recreate_slot(connection, self._names.slot)
        snapshot = await snapshot_events(connection, self._database.schema, builders, start)
        for table, events in snapshot.items():
            if events:
                await self._publish(publisher, events)
            log.warning(
                "published a snapshot of %s: %d rows", table, len(events), extra=self._context()
            )

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    def _context(self) -> dict[str, str]:
        return {"worker": self._name, "slot": self._names.slot}


def _role_of(url: str) -> str:
    role = urlsplit(url).username
    if not role:
        raise ValueError(f"{url}: the DSN names no role")
    return role
