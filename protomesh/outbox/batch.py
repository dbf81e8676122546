"""One relay transaction: claim a batch, publish it in order, mark what was acknowledged."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from protomesh.bus.publisher import PUBLISH_ERRORS, EventPublisher, OutgoingEvent
from protomesh.outbox.claims import Connection, claim_batch, mark_published, publish_waves

log = logging.getLogger("protomesh.outbox")


@dataclass
class BatchOutcome:
    claimed: int = 0  # rows locked, ready or not
    published: int = 0  # acknowledged by JetStream and marked
    failed: int = 0  # not acknowledged: left for a retry
    sent: list[OutgoingEvent] = field(default_factory=list)  # the published ones, for metrics


async def relay_batch(
    work: Connection, publisher: EventPublisher, limit: int, *, keep: bool
) -> BatchOutcome:
    """Publish up to `limit` claimed events and mark them, all in one transaction.

    Waves keep each aggregate's events in order; when one fails, its aggregate's
    later events stay behind with it. If this is cancelled or PostgreSQL goes
    away, nothing is marked: the rows are claimed again later and JetStream
    drops what it already has (Nats-Msg-Id).
    """
    outcome = BatchOutcome()
    async with work.transaction():
        claim = await claim_batch(work, limit)
        outcome.claimed = claim.claimed
        published: list[OutgoingEvent] = []
        blocked: set[str] = set()
        for wave in publish_waves(claim.ready):
            sendable = [e for e in wave if e.aggregate_id not in blocked]
            results = await publisher.publish_all(sendable)
            for event, error in zip(sendable, results, strict=True):
                if error is None:
                    published.append(event)
                elif isinstance(error, PUBLISH_ERRORS):
                    blocked.add(event.aggregate_id)
                    outcome.failed += 1
                else:
                    raise error
        await mark_published(work, [e.event_id for e in published], keep=keep)
    outcome.published, outcome.sent = len(published), published
    if outcome.published:
        log.debug("published %d events", outcome.published)
    return outcome
