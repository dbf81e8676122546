"""A durable JetStream pull consumer: fetch, decode, handle, ack — or retry, or park.

The consumer's configuration is declared in code (`ConsumerSpec`) and applied
at start (create-or-update), so a deployment never depends on someone having
run `nats consumer add` by hand. Each message goes through one path:

- decodes and the handler returns → `ack()`;
- the handler raises → `nak(delay=backoff[n])`, JetStream redelivers it later
  with `num_delivered` incremented;
- the handler failed on the last allowed delivery, the payload does not decode,
  its type or major schema version is unknown, or the handler `Rejected` it →
  copied to the dead-letter stream and `term()`-inated. The consumer keeps going.

Why the backoff is applied by `nak(delay=...)` and not JetStream's own `backoff`
list: the server also uses that list's first value as the ack deadline, so a
short first retry would have a slow (still working) handler's message
redelivered under it. `ack_wait` stays the handler's time budget, and a crash
still gets a redelivery after it.

JetStream's `max_deliver` is one more than ours: a consumer that crashed on the
last allowed delivery sees the message once more, and parks it unhandled.
Messages are handled one at a time, in stream order except for retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace

from protomesh.bus.connection import connect_nats
from protomesh.bus.dead_letters import DeadLetters
from protomesh.bus.decoding import DecodedEvent, EventTypes, Undecodable
from protomesh.bus.streams import DEAD_LETTERS, ensure_streams
from protomesh.telemetry.metrics import count_redelivery
from protomesh.telemetry.propagation import consume_span
from protomesh.tls.files import TlsFiles

log = logging.getLogger("protomesh.bus.consumer")

Handler = Callable[[DecodedEvent], Awaitable[None]]


class Rejected(Exception):
    """Raised by a handler for an event it can never handle: parked, not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConsumerSpec:
    """One durable consumer, as JetStream will hold it, plus how we pace it."""

    stream: str
    durable: str
    filter_subject: str
    ack_wait: float = 30.0  # seconds the handler has before JetStream redelivers
    max_deliver: int = 5  # deliveries before a failing message is parked
    backoff: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)  # nak delay after failure n
    batch: int = 32  # messages per fetch
    fetch_wait: float = 1.0  # longest wait for a batch; bounds how long stop() takes

    def __post_init__(self) -> None:
        if self.max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        if self.batch < 1 or self.fetch_wait <= 0 or self.ack_wait <= 0:
            raise ValueError("batch, fetch_wait and ack_wait must be positive")
        if any(delay < 0 for delay in self.backoff):
            raise ValueError("backoff delays cannot be negative")

    def retry_delay(self, delivery: int) -> float:
        """The delay before redelivering after failed delivery number `delivery` (1-based)."""
        if not self.backoff:
            return 0.0
        return self.backoff[min(delivery, len(self.backoff)) - 1]

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            filter_subject=self.filter_subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver + 1,
        )


ATTACH_WAIT = 1.0  # seconds start() waits for the consumer to be declared


class DurableConsumer:
    """Runs one handler over one durable consumer: `start()`, later `stop()`.

    `nats` is a connected client (shared, left open) or a server URL: then the
    consumer connects in the background, waiting for NATS as long as it takes,
    and closes its connection when stopped — a worker a service can run with
    one line.
    """

    def __init__(
        self,
        nats: NatsClient | str,
        spec: ConsumerSpec,
        event_types: EventTypes,
        handler: Handler,
        *,
        tls: TlsFiles | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        """`tls`: the process's certificate, for a `tls://` NATS URL; `tracer` takes
        the CONSUMER spans (the process's global one by default)."""
        self.spec = spec
        self._tracer = tracer
        self._nats = nats
        self._tls = tls
        self._nc: NatsClient | None = None if isinstance(nats, str) else nats
        self._types = event_types
        self._handler = handler
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._attached = asyncio.Event()

    @property
    def name(self) -> str:
        return f"consumer {self.spec.durable}"

    async def start(self) -> None:
        """Start in the background: declare the consumer, then fetch until stopped.

        Declaring happens in the background and is retried, so a service can
        start before its upstream's stream exists or while NATS is away.
        """
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)
        # With NATS there, declaring takes moments: return once it is done, so whoever
        # asks about the consumer right after start finds it; without NATS, go on and
        # let the background keep trying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._attached.wait()), ATTACH_WAIT)

    async def wait_attached(self) -> None:
        """Wait until the consumer is declared and bound; bound it with asyncio.timeout."""
        await self._attached.wait()

    async def _attach(self) -> DeadLetters:
        if self._nc is None:
            assert isinstance(self._nats, str)
            self._nc = await connect_nats(self._nats, name=self.spec.durable, tls=self._tls)
        js = self._nc.jetstream()
        # Where this consumer parks what it cannot handle: without the stream, parking
        # finds no responder and the poison message is retried forever.
        await ensure_streams(js, [DEAD_LETTERS])
        await js.add_consumer(self.spec.stream, self.spec.consumer_config())
        self._subscription = await js.pull_subscribe_bind(
            durable=self.spec.durable, stream=self.spec.stream
        )
        self._attached.set()
        log.info(
            "consuming",
            extra={
                "consumer": self.spec.durable,
                "subject": self.spec.filter_subject,
                "event_types": self._types.names(),
            },
        )
        return DeadLetters(js, self.spec.durable)

    async def stop(self) -> None:
        """Finish the message in hand, hand back the rest of the batch, stop fetching."""
        if self._task is None:
            return
        self._stopping.set()
        if not self._attached.is_set():  # still connecting or declaring: nothing in hand
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._attached.clear()
        if self._subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._subscription.unsubscribe()
            self._subscription = None
        if isinstance(self._nats, str) and self._nc is not None:
            with contextlib.suppress(nats.errors.Error, OSError):  # already broken: gone anyway
                await self._nc.close()
            self._nc = None
        log.info("stopped", extra={"consumer": self.spec.durable})

    async def _pause(self) -> None:
        """Wait `fetch_wait` before retrying, returning early when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.spec.fetch_wait)

    async def _run(self) -> None:
        dead_letters: DeadLetters | None = None
        while dead_letters is None and not self._stopping.is_set():
            try:
                dead_letters = await self._attach()
            except Exception as error:  # stream not there yet, NATS away: try again
                log.warning(
                    "cannot declare the consumer yet: %r",
                    error,
                    extra={"consumer": self.spec.durable, "stream": self.spec.stream},
                )
                await self._pause()
        while dead_letters is not None and not self._stopping.is_set():
            assert self._subscription is not None
            try:
                batch = await self._subscription.fetch(
                    self.spec.batch, timeout=self.spec.fetch_wait
                )
            except TimeoutError:  # nothing to fetch (nats-py raises both kinds)
                continue
            except Exception as error:  # NATS away, reconnecting: wait and fetch again
                log.warning("fetch failed: %r", error, extra={"consumer": self.spec.durable})
                await self._pause()
                continue
            for index, msg in enumerate(batch):
                if self._stopping.is_set():
                    await self._hand_back(batch[index:])
                    break
                try:
                    await self._process(msg, dead_letters)
                except Exception:  # left unacked: JetStream redelivers after ack_wait
                    log.exception("message not settled", extra={"consumer": self.spec.durable})

    async def _hand_back(self, messages: list[Msg]) -> None:
        """Stopping: let JetStream redeliver the unstarted rest of a batch at once."""
        for msg in messages:
            with contextlib.suppress(Exception):
                await msg.nak()

    async def _process(self, msg: Msg, dead_letters: DeadLetters) -> None:
        """Settle one message inside a CONSUMER span continuing the publisher's trace.

        The span is current while the handler runs, so its SQL spans and log
        lines join the trace of the request that wrote the event, under its
        request id (`protomesh.telemetry.propagation.consume_span`).
        """
        delivery = msg.metadata.num_delivered
        if delivery > 1:
            count_redelivery(self.spec.durable)
        with consume_span(
            msg.headers, msg.subject, self.spec.durable, delivery=delivery, tracer=self._tracer
        ):
            await self._settle(msg, delivery, dead_letters)

    async def _settle(self, msg: Msg, delivery: int, dead_letters: DeadLetters) -> None:
        if delivery > self.spec.max_deliver:
            await dead_letters.park(
                msg, f"delivered {delivery} times, never acknowledged (max {self.spec.max_deliver})"
            )
            return
        try:
            event = self._types.decode(
                msg.subject, msg.headers, msg.data, delivery, msg.metadata.sequence.stream
            )
        except Undecodable as undecodable:
            await dead_letters.park(msg, undecodable.reason)
            return
        try:
            await self._handler(event)
        except Rejected as rejected:
            await dead_letters.park(msg, f"rejected by the handler: {rejected.reason}")
        except Exception as error:
            if delivery >= self.spec.max_deliver:
                await dead_letters.park(
                    msg, f"handler failed on all {delivery} deliveries, last: {error!r}"
                )
                return
            delay = self.spec.retry_delay(delivery)
            log.warning(
                "handler failed, retrying in %.1fs: %r",
                delay,
                error,
                extra={"consumer": self.spec.durable, "event_id": event.id, "delivery": delivery},
            )
            await msg.nak(delay=delay)
        else:
            await msg.ack()
            # The event's access-log line: in the span, so it carries the trace and request ids.
            log.info(
                "handled %s",
                event.type,
                extra={"consumer": self.spec.durable, "event_id": event.id, "delivery": delivery},
            )
