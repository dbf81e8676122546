"""OutboxRelay: move committed outbox rows to JetStream, at least once, in order.

One loop: claim a batch (row locks, SKIP LOCKED), publish it with bounded
in-flight acks, mark what was acknowledged, commit. It sleeps until a NOTIFY
on `protomesh_outbox` names its schema or the poll interval passes, whichever
comes first; a full batch means more work, so it loops at once.

Each event written in a trace is published in a PRODUCER span of that trace
(`protomesh.bus.publisher`); the relay records each event's commit-to-ack lag
(`outbox_relay_lag_seconds`) and, now and then, the unpublished rows per
stream (`outbox_backlog_rows`): see `protomesh.outbox.relay_metrics`.

Failures never lose an event, they only delay it:
- NATS down: nothing is claimed while the client is disconnected; a publish
  that fails leaves its row (and its aggregate's later rows) unpublished, the
  relay backs off and retries. A retry of a publish that did reach the stream
  is dropped there by `Nats-Msg-Id` (inside the stream's duplicate window).
- PostgreSQL down, or the relay killed mid-batch: the claiming transaction
  never commits, so the rows are unclaimed again and published by the next
  attempt (JetStream drops the re-publish).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client

from protomesh.bus.connection import connect_nats
from protomesh.bus.publisher import PUBLISH_ERRORS, EventPublisher, JetStreamPublisher
from protomesh.bus.streams import StreamSpec, ensure_streams
from protomesh.config import Secret
from protomesh.outbox import local_wake
from protomesh.outbox.batch import relay_batch
from protomesh.outbox.relay_metrics import RelayMetrics
from protomesh.outbox.settings import RelaySettings
from protomesh.outbox.writer import NOTIFY_CHANNEL
from protomesh.tls.files import TlsFiles

log = logging.getLogger("protomesh.outbox")

# What a broken dependency raises; anything else is a bug and is logged as one.
_DEPENDENCY_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_STOP_MARGIN = 5.0


@dataclass(frozen=True)
class OutboxDatabase:
    """Where a relay finds its outbox: a DSN without password, and the schema."""

    url: str
    password: Secret | None
    schema: str


class OutboxRelay:
    """A Worker (`start`/`stop`) that publishes one schema's outbox to NATS JetStream."""

    def __init__(
        self,
        database: OutboxDatabase,
        nats_servers: str,
        settings: RelaySettings | None = None,
        *,
        streams: Sequence[StreamSpec] = (),
        name: str = "outbox-relay",
        tls: TlsFiles | None = None,
    ) -> None:
        """`streams` are declared (created or updated) on every connection to NATS;
        `tls` is the process's certificate, for a `tls://` NATS URL."""
        self._tls = tls
        self._database = database
        self._servers = nats_servers
        self._settings = settings or RelaySettings()
        self._streams = tuple(streams)
        self._name = name
        self._batches_in_hand = 0
        self._wake = asyncio.Event()  # a NOTIFY (or stop): look for work now
        self._backlog = asyncio.Event()  # a batch came back full: more pipelines help
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._works: list[asyncpg.Connection] = []
        self._listen: asyncpg.Connection | None = None
        self._nats: Client | None = None
        self._publisher: EventPublisher | None = None
        self._metrics = RelayMetrics(self._streams)
        self._withdraw_waker: Callable[[], None] | None = None
        self.published = 0  # events acknowledged by JetStream since start

    async def start(self) -> None:
        self._stopping = False
        self._stop_requested.clear()
        self._task = asyncio.create_task(self._run(), name=self._name)
        log.info("outbox relay started", extra=self._context())

    async def stop(self) -> None:
        """Let the batch in hand finish (bounded by the ack timeout), then close.

        A relay waiting (for work, for NATS, for PostgreSQL) holds nothing: it is
        cancelled at once.
        """
        if self._task is None:
            return
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        self._backlog.set()
        if self._batches_in_hand:
            _done, pending = await asyncio.wait(
                {self._task}, timeout=self._settings.ack_timeout + _STOP_MARGIN
            )
            if pending:
                log.warning("outbox relay did not stop in time; cancelling", extra=self._context())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        log.info("outbox relay stopped", extra={**self._context(), "published": self.published})

    async def _run(self) -> None:
        delay = 0.0
        try:
            while not self._stopping:
                try:
                    await self._connect()
                    await self._serve()
                except* (*_DEPENDENCY_ERRORS, *PUBLISH_ERRORS) as errors:
                    delay = min(max(delay * 2, 0.1), self._settings.max_backoff)
                    log.warning(
                        "outbox relay lost a dependency; retrying in %.1fs",
                        delay,
                        extra={**self._context(), "error": repr(errors.exceptions[0])},
                    )
                    await self._close_database()
                    await self._pause(delay)
                except* Exception:
                    # A bug, not an outage; a relay that dies quietly is worse than
                    # one that says so and keeps trying.
                    log.exception("outbox relay failed; retrying", extra=self._context())
                    await self._close_database()
                    await self._pause(self._settings.max_backoff)
        finally:
            if self._withdraw_waker is not None:
                self._withdraw_waker()
                self._withdraw_waker = None
            await self._close_database()
            if self._nats is not None:
                await self._nats.close()
                self._nats = None

    async def _connect(self) -> None:
        if self._nats is None:
            client = await connect_nats(self._servers, name=self._name, tls=self._tls)
            try:
                if self._streams:
                    await ensure_streams(client.jetstream(), self._streams)
            except BaseException:
                await client.close()
                raise
            self._nats = client
            self._publisher = JetStreamPublisher(
                client,
                max_in_flight=self._settings.max_in_flight,
                ack_timeout=self._settings.ack_timeout,
            )
        if len(self._works) < self._settings.pipelines or any(c.is_closed() for c in self._works):
            await self._close_database()
            self._works = [await self._connect_database() for _ in range(self._settings.pipelines)]
        if self._listen is None or self._listen.is_closed():
            self._listen = await self._connect_database()
            await self._listen.add_listener(NOTIFY_CHANNEL, self._on_notify)
        if self._withdraw_waker is None:
            # Commits in this process wake the relay without a NOTIFY while it is awake.
            self._withdraw_waker = local_wake.register(self._database.schema, self._wake_if_awake)

    async def _connect_database(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._database.url,
            password=self._database.password.reveal() if self._database.password else None,
            timeout=5.0,
            command_timeout=max(10.0, self._settings.ack_timeout * 2),
            server_settings={
                "search_path": self._database.schema,
                "application_name": self._name,
                # Marking rows published need not wait for the WAL flush: a mark
                # lost in a crash only re-publishes events JetStream (Nats-Msg-Id)
                # or the consumers (processed ids) drop. Writers keep full durability.
                "synchronous_commit": "off",
            },
        )

    def _on_notify(
        self,
        _connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        _pid: int,
        _channel: str,
        payload: object,
    ) -> None:
        if payload == self._database.schema:
            self._wake.set()

    async def _serve(self) -> None:
        """Run the pipelines until stopped; the first to lose PostgreSQL stops them all."""
        async with asyncio.TaskGroup() as pipelines:
            for index, work in enumerate(self._works):
                pipelines.create_task(self._pipeline(work, first=index == 0))

    async def _pipeline(self, work: asyncpg.Connection, *, first: bool) -> None:
        """Claim, publish, mark, commit; again at once after a full batch, else sleep.

        With a backlog, two pipelines overlap: one claims and marks in PostgreSQL
        while the other publishes; SKIP LOCKED keeps their batches apart and the
        `ready` rule keeps each aggregate in order. Without one, only the first
        answers NOTIFYs: a trickle of events needs one small claim each, not two.
        """
        nats_delay = 0.0
        while not self._stopping:
            if self._listen is None or self._listen.is_closed():
                raise ConnectionError("the LISTEN connection closed")
            if not self._nats_connected():
                nats_delay = min(max(nats_delay * 2, 0.1), self._settings.max_backoff)
                await self._pause(nats_delay)
                continue
            self._wake.clear()
            self._batches_in_hand += 1
            try:
                assert self._publisher is not None
                outcome = await relay_batch(
                    work,
                    self._publisher,
                    self._settings.batch_size,
                    keep=self._settings.retention > 0,
                )
            finally:
                self._batches_in_hand -= 1
            self.published += outcome.published
            self._metrics.published(outcome.sent)
            if outcome.failed:
                nats_delay = min(max(nats_delay * 2, 0.1), self._settings.max_backoff)
                log.warning(
                    "outbox relay: %d events not acknowledged; retrying in %.1fs",
                    outcome.failed,
                    nats_delay,
                    extra=self._context(),
                )
                await self._pause(nats_delay)
                continue
            nats_delay = 0.0
            if first:
                await self._metrics.count_backlog_when_due(work)
            # A full batch means more work; one held back whole (another pipeline
            # or relay has the earlier events) means waiting for that one first.
            if outcome.claimed < self._settings.batch_size or not outcome.published:
                self._backlog.clear()
                await self._sleep(self._settings.poll_interval, first=first)
            else:
                self._backlog.set()

    def _wake_if_awake(self) -> bool:
        awake = self._nats_connected() and self._listen is not None and not self._listen.is_closed()
        if awake:
            self._wake.set()
        return awake

    def _nats_connected(self) -> bool:
        return self._nats is not None and bool(self._nats.is_connected)

    async def _sleep(self, seconds: float, *, first: bool) -> None:
        """Idle: the first pipeline waits for a NOTIFY, the others for a backlog;
        a stop or `seconds` ends the wait too."""
        await self._wait_for(self._wake if first else self._backlog, seconds)

    async def _pause(self, seconds: float) -> None:
        """Back off: wait `seconds` unless stopped. NOTIFYs must not cut it short (an
        outage with writes going on would otherwise retry in a busy loop)."""
        await self._wait_for(self._stop_requested, seconds)

    @staticmethod
    async def _wait_for(event: asyncio.Event, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass

    async def _close_database(self) -> None:
        for connection in (self._listen, *self._works):
            if connection is not None and not connection.is_closed():
                connection.terminate()
        self._listen = None
        self._works = []

    def _context(self) -> dict[str, str]:
        return {"relay": self._name, "schema": self._database.schema}
