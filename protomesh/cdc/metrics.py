"""What a CDC worker reports to Prometheus (its /metrics, beside the services' own).

- `cdc_slot_lag_bytes{slot}`: WAL written since the slot's confirmed position,
  i.e. changes not yet published; it grows while the worker is behind or away.
- `cdc_slot_retained_wal_bytes{slot}`: WAL the slot stops PostgreSQL from
  recycling; alert on it well below `max_slot_wal_keep_size`.
- `cdc_slot_invalidations{slot}`: times the slot was found invalidated (WAL
  it needed was removed) and re-made with a snapshot; any increase is an incident.
- `cdc_changes_published{table}` and `cdc_commit_lag_seconds{table}`: changes
  acknowledged by JetStream, and the time from their commit to that ack.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from protomesh.telemetry.metrics import LAG_BUCKETS

_LAG_BUCKETS = (0.001, 0.0025, *LAG_BUCKETS)


@dataclass(frozen=True)
class CaptureInstruments:
    lag_bytes: Gauge
    retained_bytes: Gauge
    invalidations: Counter
    published: Counter
    commit_lag: Histogram


@functools.cache
def instruments() -> CaptureInstruments:
    return CaptureInstruments(
        lag_bytes=Gauge(
            "cdc_slot_lag_bytes", "WAL written since the slot's confirmed position", ["slot"]
        ),
        retained_bytes=Gauge(
            "cdc_slot_retained_wal_bytes", "WAL the slot keeps from being recycled", ["slot"]
        ),
        invalidations=Counter(
            "cdc_slot_invalidations",
            "Times the slot was found invalidated and re-made (changes in the gap were lost)",
            ["slot"],
        ),
        published=Counter(
            "cdc_changes_published", "Row changes acknowledged by JetStream", ["table"]
        ),
        commit_lag=Histogram(
            "cdc_commit_lag_seconds",
            "From a change's commit to JetStream's ack of its event",
            ["table"],
            buckets=_LAG_BUCKETS,
        ),
    )
