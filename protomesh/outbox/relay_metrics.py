"""What an outbox relay reports to Prometheus: how late events go out, and how many wait.

- `outbox_relay_lag_seconds{stream}`: for each published event, from its row's
  commit (`occurred_at`, the database clock) to JetStream's ack; it grows when
  the relay falls behind or NATS is slow.
- `outbox_backlog_rows{stream}`: rows written but not yet published, counted at
  most every BACKLOG_INTERVAL on the relay's own connection. A count per pass
  would cost one more query per event under a trickle of writes; streams with
  nothing waiting read 0, so the gauge falls back after an outage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from protomesh.bus.publisher import OutgoingEvent
from protomesh.bus.streams import StreamSpec, stream_for
from protomesh.outbox.claims import Connection, count_unpublished
from protomesh.telemetry.metrics import observe_relay_lag, set_outbox_backlog

BACKLOG_INTERVAL = 1.0  # seconds


class RelayMetrics:
    def __init__(self, streams: Sequence[StreamSpec]) -> None:
        self._streams = tuple(streams)
        self._next_count = 0.0
        self._labels: dict[str, str] = {}  # subject -> stream; one per event type

    def stream_of(self, subject: str) -> str:
        """The label: the declared stream capturing `subject`, else the subject itself."""
        label = self._labels.get(subject)
        if label is None:  # matched once per subject, not once per event
            label = self._labels[subject] = stream_for(subject, self._streams) or subject
        return label

    def published(self, sent: Sequence[OutgoingEvent]) -> None:
        """Record each acknowledged event's commit-to-ack lag."""
        if not sent:
            return
        now = datetime.now(UTC)
        for event in sent:
            lag = max(0.0, (now - event.occurred_at).total_seconds())
            observe_relay_lag(self.stream_of(event.subject), lag)

    async def count_backlog_when_due(self, work: Connection) -> None:
        if time.monotonic() < self._next_count:
            return
        self._next_count = time.monotonic() + BACKLOG_INTERVAL
        rows = dict.fromkeys((spec.name for spec in self._streams), 0)
        for subject, count in (await count_unpublished(work)).items():
            stream = self.stream_of(subject)
            rows[stream] = rows.get(stream, 0) + count
        for stream, count in rows.items():
            set_outbox_backlog(stream, count)
