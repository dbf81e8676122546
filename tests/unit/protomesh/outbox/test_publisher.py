"""JetStreamPublisher against a fake NATS answering as JetStream does: envelope, bounded
in-flight, failures per event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import nats.errors
import nats.js.errors

from protomesh.bus.publisher import JetStreamPublisher, OutgoingEvent


class FakeNats:
    """Core NATS as JetStream answers a publish: each one's reply subject gets
    `answer(index)` — a PubAck, an error, or nothing ever."""

    def __init__(self, answer: Callable[[int], dict[str, Any] | None]) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.waiting: set[str] = set()  # replies not yet given
        self.most_in_flight = 0
        self.acks: Callable[[Any], Coroutine[Any, Any, None]] | None = None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, cb: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
        assert subject == "_INBOX.test.*"
        self.acks = cb

    async def publish(
        self, subject: str, payload: bytes, *, reply: str, headers: dict[str, str]
    ) -> None:
        index = len(self.sent)
        self.sent.append((subject, headers))
        self.waiting.add(reply)
        self.most_in_flight = max(self.most_in_flight, len(self.waiting))
        outcome = self.answer(index)
        if outcome is not None:
            asyncio.get_running_loop().call_soon(self._reply, reply, outcome)

    def _reply(self, reply: str, outcome: dict[str, Any]) -> None:
        self.waiting.discard(reply)
        assert self.acks is not None
        message = SimpleNamespace(subject=reply, data=json.dumps(outcome).encode(), headers=None)
        asyncio.get_running_loop().create_task(self.acks(message))


def events(count: int) -> list[OutgoingEvent]:
    return [
        OutgoingEvent(
            event_id=f"id-{i}",
            event_type="shop.order.events.v1.OrderPlaced",
            schema_version=1,
            subject="order.events.v1.OrderPlaced",
            payload=b"x",
            occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            source="/shop/order",
            aggregate_type="order",
            aggregate_id=f"order-{i}",
            sequence=0,
            extra_headers={"x-request-id": "req-1", "Nats-Msg-Id": "forged"},
        )
        for i in range(count)
    ]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_an_event_written_in_a_trace_is_sent_in_that_trace() -> None:
    """The relay's publish continues the stored trace (a new span id once an SDK records)."""
    js = FakeNats(lambda _: ACK)
    traced = replace(
        events(1)[0],
        extra_headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "x-request-id": "r"},
    )
    assert await publisher(js).publish_all([traced]) == [None]
    _subject, headers = js.sent[0]
    version, trace_id, _span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags, headers["x-request-id"]) == ("00", TRACE_ID, "01", "r")


def publisher(js: FakeNats, **options: Any) -> JetStreamPublisher:
    return JetStreamPublisher(js, **options)  # type: ignore[arg-type]


ACK = {"stream": "ORDER_EVENTS", "seq": 1}


async def test_every_message_carries_the_cloudevents_envelope_and_the_dedupe_id() -> None:
    js = FakeNats(lambda _: ACK)
    assert await publisher(js).publish_all(events(1)) == [None]
    _subject, headers = js.sent[0]
    assert headers == {
        "x-request-id": "req-1",  # stored, carried as is
        "Nats-Msg-Id": "id-0",  # the row's own headers cannot override the envelope
        "ce-id": "id-0",
        "ce-type": "shop.order.events.v1.OrderPlaced",
        "ce-source": "/shop/order",
        "ce-specversion": "1.0",
        "ce-time": "2026-01-02T03:04:05+00:00",
        "ce-dataschema": "proto:shop/order/events/v1/events.proto#OrderPlaced",
        "ce-datacontenttype": "application/protobuf",
        "schema-version": "1",
        "aggregate-type": "order",
        "aggregate-id": "order-0",
        "aggregate-sequence": "0",
    }


async def test_no_more_than_max_in_flight_publishes_await_their_ack() -> None:
    js = FakeNats(lambda _: ACK)
    results = await publisher(js, max_in_flight=4).publish_all(events(50))
    assert results == [None] * 50
    assert js.most_in_flight <= 4


async def test_each_event_gets_its_own_outcome() -> None:
    refused = {"error": {"code": 503, "err_code": 10077, "description": "no space"}}
    js = FakeNats(lambda i: refused if i == 1 else ACK)
    results = await publisher(js).publish_all(events(3))
    assert [r is None for r in results] == [True, False, True]
    assert isinstance(results[1], nats.js.errors.APIError)
    assert results[1].description == "no space"


async def test_a_duplicate_is_acknowledged() -> None:
    """A re-publish inside the duplicate window (Nats-Msg-Id) is JetStream's yes, not a failure."""
    js = FakeNats(lambda _: {"stream": "ORDER_EVENTS", "seq": 1, "duplicate": True})
    assert await publisher(js).publish_all(events(2)) == [None, None]


async def test_missing_acks_time_out_and_a_full_window_fails_the_rest() -> None:
    js = FakeNats(lambda i: ACK if i == 0 else None)  # the server goes silent
    results = await publisher(js, max_in_flight=2, ack_timeout=0.1).publish_all(events(5))
    assert results[0] is None
    assert all(isinstance(r, (TimeoutError, nats.errors.Error)) for r in results[1:])
    assert len(js.sent) == 3  # two slots stayed taken; the rest were never sent
