"""Park messages a consumer must not (or can no longer) handle: the dead-letter stream.

A poison message — bytes that do not decode, an event type or major version the
consumer does not know, a handler that failed on every allowed delivery — would
otherwise block or loop forever. It is copied to `dlq.<original subject>` with
its original headers plus why it was parked, and only then terminated on the
original stream, so it is never lost: an operator can read it, fix the cause
and replay it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from protomesh.bus.cloudevents import MSG_ID
from protomesh.telemetry.metrics import count_dead_letter

log = logging.getLogger("protomesh.bus.dead_letters")

SUBJECT_PREFIX = "dlq."
REASON = "dlq-reason"
DELIVERIES = "dlq-deliveries"
CONSUMER = "dlq-consumer"
STREAM = "dlq-stream"
STREAM_SEQUENCE = "dlq-stream-sequence"
ORIGINAL_MSG_ID = "dlq-original-msg-id"
# NATS headers are single-line; keep reasons short enough to read in a listing.
_REASON_LIMIT = 500


def dead_letter_subject(subject: str) -> str:
    return SUBJECT_PREFIX + subject


def dead_letter_headers(
    original: Mapping[str, str] | None,
    *,
    reason: str,
    deliveries: int,
    consumer: str,
    stream: str,
    stream_sequence: int,
) -> dict[str, str]:
    """The original headers plus the parking record.

    The message id is rewritten per consumer and stream position: two consumers
    parking the same event must both land in the dead-letter stream (the
    original id would make JetStream drop the second as a duplicate), while one
    consumer parking the same delivery twice (a crash between publish and term)
    is deduplicated.
    """
    headers = dict(original or {})
    if MSG_ID in headers:
        headers[ORIGINAL_MSG_ID] = headers[MSG_ID]
    headers[MSG_ID] = f"{consumer}:{stream}:{stream_sequence}"
    flat_reason = " ".join(reason.split())
    headers[REASON] = flat_reason[:_REASON_LIMIT]
    headers[DELIVERIES] = str(deliveries)
    headers[CONSUMER] = consumer
    headers[STREAM] = stream
    headers[STREAM_SEQUENCE] = str(stream_sequence)
    return headers


class DeadLetters:
    """Publishes parked messages to the dead-letter stream, then terminates them."""

    def __init__(self, js: JetStreamContext, consumer: str, timeout: float = 5.0) -> None:
        self._js = js
        self._consumer = consumer
        self._timeout = timeout

    async def park(self, msg: Msg, reason: str) -> None:
        """Copy `msg` to `dlq.<subject>` (acknowledged by JetStream), then `term()` it.

        If the publish fails the message is left unacknowledged: JetStream
        redelivers it after ack_wait and parking is tried again, so a message is
        never dropped without a dead-letter copy.
        """
        metadata = msg.metadata
        deliveries = metadata.num_delivered
        subject = dead_letter_subject(msg.subject)
        headers = dead_letter_headers(
            msg.headers,
            reason=reason,
            deliveries=deliveries,
            consumer=self._consumer,
            stream=metadata.stream,
            stream_sequence=metadata.sequence.stream,
        )
        await self._js.publish(subject, msg.data, timeout=self._timeout, headers=headers)
        await msg.term()
        count_dead_letter(self._consumer)
        log.warning(
            "parked a message in the dead-letter stream",
            extra={
                "consumer": self._consumer,
                "subject": msg.subject,
                "reason": headers[REASON],
                "deliveries": deliveries,
                "event_id": headers.get(ORIGINAL_MSG_ID),
            },
        )
