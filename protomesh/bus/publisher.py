"""Publish events to JetStream with CloudEvents headers and bounded in-flight acks.

Awaiting each publish's ack before sending the next is round-trip bound
(~6.5k msgs/s measured on 2 cores, far less over a real network). `JetStreamPublisher`
keeps up to `max_in_flight` publishes outstanding on one connection and
collects every ack, so a batch costs about one round trip plus the server's
work. Each message carries the event id as `Nats-Msg-Id`, so the stream drops a
re-publish inside its duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from protomesh.bus.cloudevents import envelope
from protomesh.telemetry.propagation import TRACEPARENT, publish_span

AGGREGATE_TYPE = "aggregate-type"
AGGREGATE_ID = "aggregate-id"
AGGREGATE_SEQUENCE = "aggregate-sequence"
log = logging.getLogger("protomesh.bus.publisher")

# The status header of the server's reply when no stream takes the subject.
NO_RESPONDERS = "503"

# What a failed publish raises: the server is away, slow, or refuses the message.
PUBLISH_ERRORS = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


@dataclass(frozen=True)
class OutgoingEvent:
    """One event ready for the wire: its envelope and serialized protobuf payload."""

    event_id: str
    event_type: str  # full proto name, e.g. shop.order.events.v1.OrderPlaced
    schema_version: int
    subject: str
    payload: bytes
    occurred_at: datetime
    source: str  # CloudEvents source, e.g. /shop/order
    aggregate_type: str
    aggregate_id: str
    sequence: int
    extra_headers: Mapping[str, str] = field(default_factory=dict)  # traceparent, ...

    def headers(self, carried: Mapping[str, str] | None = None) -> dict[str, str]:
        """The wire headers: `carried` (else the stored extra headers) first, so they
        can never overwrite the CloudEvents envelope (`protomesh.bus.cloudevents`)."""
        return {
            **(self.extra_headers if carried is None else carried),
            **envelope(
                event_id=self.event_id,
                event_type=self.event_type,
                schema_version=self.schema_version,
                source=self.source,
                time=self.occurred_at,
            ),
            AGGREGATE_TYPE: self.aggregate_type,
            AGGREGATE_ID: self.aggregate_id,
            AGGREGATE_SEQUENCE: str(self.sequence),
        }


class EventPublisher(Protocol):
    """Publishes a batch; the result holds, per event, None (acknowledged) or the error."""

    async def publish_all(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]: ...


class JetStreamPublisher:
    """Publishes over one NATS connection with at most `max_in_flight` unacknowledged.

    JetStream acknowledges a publish by replying to its reply subject. Here
    every publish names `<inbox>.<n>` under one inbox this publisher
    subscribes to once, and the reply resolves the n-th future: a plain
    core-NATS publish per event plus a dict entry. nats-py's `publish_async`
    does the same job at about twice the CPU per message (a NUID and
    `secrets.token_hex` per message, a `wait_for` around its own semaphore,
    a dataclass per ack; docs/performance.md): on two cores shared with
    nats-server and PostgreSQL that was the relay's bound.

    The window is ours too: waiting on a semaphore even when a slot is free
    yields to the event loop after every message, so each one would leave in a
    send() of its own. Here the loop yields only when the window is full, and
    nats-py's flusher writes the whole burst at once.
    """

    def __init__(self, client: Client, *, max_in_flight: int = 256, ack_timeout: float = 5.0):
        self._client = client
        self._ack_timeout = ack_timeout
        self._window = asyncio.Semaphore(max_in_flight)
        self._inbox: str | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._tokens = itertools.count()

    async def publish_all(self, events: Sequence[OutgoingEvent]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(events)
        futures: dict[int, asyncio.Future[None]] = {}
        tokens: list[str] = []
        try:
            inbox = self._inbox or await self._subscribe()
            loop = asyncio.get_running_loop()
            for index, event in enumerate(events):
                try:
                    await self._take_slot()
                    token = f"{next(self._tokens):x}"
                    future: asyncio.Future[None] = loop.create_future()
                    self._waiting[token] = future
                    tokens.append(token)
                    future.add_done_callback(self._free_slot)
                    if TRACEPARENT in event.extra_headers:
                        with _traced(event) as headers:
                            await self._client.publish(
                                event.subject, event.payload, reply=inbox + token, headers=headers
                            )
                    else:  # untraced: no span, and no context manager per event
                        await self._client.publish(
                            event.subject,
                            event.payload,
                            reply=inbox + token,
                            headers=event.headers(),
                        )
                except PUBLISH_ERRORS as error:
                    # Acks stopped coming, or the connection is closed: the rest of
                    # the batch would fail the same way.
                    for rest in range(index, len(events)):
                        results[rest] = error
                    break
                futures[index] = future
            if futures:
                await asyncio.wait(futures.values(), timeout=self._ack_timeout)
        finally:
            for token in tokens:  # unanswered (or never sent): free their slots
                unanswered = self._waiting.pop(token, None)
                if unanswered is not None and not unanswered.done():
                    unanswered.cancel()
        for index, future in futures.items():
            if future.cancelled():
                results[index] = TimeoutError(f"no ack within {self._ack_timeout}s")
            else:
                results[index] = future.exception()
        return results

    async def _subscribe(self) -> str:
        """Subscribe once to this publisher's ack inbox (re-subscribed by nats-py on reconnect)."""
        inbox = self._client.new_inbox() + "."
        await self._client.subscribe(inbox + "*", cb=self._on_ack)
        self._inbox = inbox
        return inbox

    async def _on_ack(self, msg: Msg) -> None:
        assert self._inbox is not None
        future = self._waiting.pop(msg.subject[len(self._inbox) :], None)
        if future is None or future.done():
            return  # late: its batch gave up waiting
        error = _ack_error(msg)
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    async def _take_slot(self) -> None:
        if self._window.locked():
            await asyncio.wait_for(self._window.acquire(), self._ack_timeout)
        else:
            await self._window.acquire()  # free: returns without yielding

    def _free_slot(self, _future: asyncio.Future[None]) -> None:
        self._window.release()


def _ack_error(msg: Msg) -> BaseException | None:
    """None for a stored (or deduplicated) message; else why JetStream did not take it."""
    if msg.headers and msg.headers.get(api.Header.STATUS) == NO_RESPONDERS:
        return nats.js.errors.NoStreamResponseError()
    try:
        answer = json.loads(msg.data)
    except ValueError:
        return nats.js.errors.Error(f"not a publish ack: {msg.data[:100]!r}")
    if not isinstance(answer, dict) or "stream" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            try:  # raises the error class of its code (ServiceUnavailableError, ...)
                nats.js.errors.APIError.from_error(error)
            except nats.js.errors.APIError as refused:
                return refused
        return nats.js.errors.Error(f"not a publish ack: {msg.data[:100]!r}")
    return None


@contextlib.contextmanager
def _traced(event: OutgoingEvent) -> Iterator[dict[str, str]]:
    """The headers to send, inside a PRODUCER span when the event was written in a trace.

    The span is a child of the request that wrote the row, and the message
    carries the span's own `traceparent` to the consumers. It covers handing
    the message to NATS; the acks of a wave are awaited together, and their
    delay shows in the relay-lag histogram. An event written outside any trace
    (or with tracing off) goes as stored, with no span: nothing to join —
    `publish_all` sends it without entering this.
    """
    with publish_span(event.extra_headers, event.subject) as carried:
        log.debug("publishing event", extra={"event_id": event.event_id, "subject": event.subject})
        yield event.headers(carried)
