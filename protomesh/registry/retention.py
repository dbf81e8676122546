"""Each service's `retention` section: how long the runtime's own tables keep rows.

    retention:
      processed_events: 8d   # handled event ids; at least the event streams' max_age (7d)
      outbox: 1h             # published outbox rows
      every: 5m              # one pruning round per replica this often, jittered
      batch: 1000            # rows per DELETE statement

Every key is optional (defaults in `model.Retention`). The floor on
`processed_events` is what makes the consumers' dedupe hold: an event id
forgotten while JetStream can still deliver that event again lets its effect
happen twice.
"""

from __future__ import annotations

import re

from protomesh.registry.model import DAY, EVENT_STREAM_MAX_AGE, Retention
from protomesh.registry.reading import Reader, join

KEYS = ("processed_events", "outbox", "every", "batch")
_SPAN = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
MAX_BATCH = 10_000


def read_retention(reader: Reader, value: object, path: str) -> Retention:
    raw = reader.mapping(value, path, (), KEYS)
    default = Retention()
    processed = _span(reader, raw, "processed_events", path, default.processed_events)
    if processed < EVENT_STREAM_MAX_AGE:
        reader.fail(
            join(path, "processed_events"),
            f"{raw['processed_events']!r} is shorter than the event streams' max_age"
            f" ({EVENT_STREAM_MAX_AGE / DAY:g}d): JetStream could deliver an event again"
            " after its id was forgotten, and its effect would happen twice",
        )
    batch = reader.count(raw, "batch", path, default.batch)
    if batch > MAX_BATCH:
        reader.fail(join(path, "batch"), f"{batch} is above {MAX_BATCH}: one DELETE holds too long")
    return Retention(
        processed_events=processed,
        outbox=_span(reader, raw, "outbox", path, default.outbox),
        every=_span(reader, raw, "every", path, default.every),
        batch=batch,
    )


def _span(reader: Reader, raw: dict[object, object], key: str, path: str, default: float) -> float:
    """Seconds from `30s`, `5m`, `1h` or `8d`; zero is refused."""
    if key not in raw:
        return default
    value = raw[key]
    match = _SPAN.fullmatch(value) if isinstance(value, str) else None
    seconds = float(match[1]) * _UNITS[match[2]] if match else 0.0
    if seconds <= 0:
        reader.fail(join(path, key), f"{value!r} is not a duration like 30s, 5m, 1h or 8d")
        return default
    return seconds
