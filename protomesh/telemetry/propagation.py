"""Carry a trace (and the request id) across the asynchronous hop: outbox → NATS → consumer.

1. In the business transaction, the outbox row stores `inject_headers()`: the
   W3C `traceparent`/`tracestate` of the span handling the request, and its
   `x-request-id`.
2. The relay publishes each row inside `publish_span(row_headers, subject)`,
   a PRODUCER span that is a child of the request's span, and sends the
   headers it yields (the same request id, the publish span's traceparent).
3. The consumer handles each message inside `consume_span(msg.headers, ...)`,
   a CONSUMER span that is a child of the publish span, made current so the
   handler's SQL and log lines join the trace, with the request id set.

Parent, not link: one order placed is one story, and the issue asks for one
trace id from the edge to the consumer, which only a parent gives (a linked
span starts a trace of its own). The cost is that a trace stays open for as
long as the event takes to be consumed; redeliveries show as sibling CONSUMER
spans under the same publish span, which is what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from protomesh import request_context

REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT = "traceparent"
TRACER_NAME = "protomesh.events"
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage"})


def inject_headers() -> dict[str, str]:
    """The current trace context and request id as headers; empty outside a trace and request."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    request_id = request_context.request_id.get()
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context | None:
    """The trace context stored in `headers`; None when they carry none."""
    if not headers or TRACEPARENT not in headers:
        return None
    return propagate.extract(dict(headers))


def _tracer(tracer: trace.Tracer | None) -> trace.Tracer:
    return tracer if tracer is not None else trace.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def publish_span(
    headers: Mapping[str, str] | None, subject: str, *, tracer: trace.Tracer | None = None
) -> Iterator[dict[str, str]]:
    """A PRODUCER span for publishing a stored event; yields the headers to send with it.

    The stored request id is current meanwhile, so the relay's log lines about
    this event carry it (and, through the span, the trace id) as the request's do.
    """
    parent = extract_context(headers)
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
    token = request_context.request_id.set((headers or {}).get(REQUEST_ID_HEADER))
    try:
        with _tracer(tracer).start_as_current_span(
            f"publish {subject}", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
        ):
            outgoing = {k: v for k, v in (headers or {}).items() if k not in _TRACE_KEYS}
            propagate.inject(outgoing)
            yield outgoing
    finally:
        request_context.request_id.reset(token)


@contextlib.contextmanager
def consume_span(
    headers: Mapping[str, str] | None,
    subject: str,
    consumer: str,
    *,
    delivery: int = 1,
    tracer: trace.Tracer | None = None,
) -> Iterator[Span]:
    """A CONSUMER span, child of the publisher's, current while the message is handled.

    The message's request id becomes the current one, so every log line of the
    handler carries it, as in a request. `delivery` is JetStream's
    `num_delivered` (1 the first time).
    """
    parent = extract_context(headers)
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        "messaging.operation.type": "process",
        "messaging.nats.delivery_count": delivery,
    }
    request_id = (headers or {}).get(REQUEST_ID_HEADER)
    token = request_context.request_id.set(request_id)
    try:
        with _tracer(tracer).start_as_current_span(
            f"process {subject}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield span
    finally:
        request_context.request_id.reset(token)
