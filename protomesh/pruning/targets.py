"""What the pruner deletes: per table, the timestamp after which a row has expired.

A row of `table` has expired once `column` plus `keep` seconds lies in the
past. The runtime's own tables are built here; a service may name one of
its own shaped the same way (the reporting read model's applied event ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protomesh.bus.processed import TABLE as PROCESSED_EVENTS
from protomesh.idempotency.ledger import TABLE as IDEMPOTENCY_KEYS
from protomesh.outbox.schema import TABLE as OUTBOX

_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class PruneTarget:
    table: str
    column: str  # a timestamptz; NULL never expires (an unpublished outbox row)
    keep: float  # seconds past `column`

    def __post_init__(self) -> None:
        # Both are written into SQL: only plain lower-case names.
        for name in (self.table, self.column):
            if not _SQL_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain SQL name")
        if self.keep < 0:
            raise ValueError("keep cannot be negative")


def processed_events(keep: float, table: str = PROCESSED_EVENTS) -> PruneTarget:
    """Handled event ids (`protomesh.bus.processed`), `keep` seconds after handling."""
    return PruneTarget(table, "processed_at", keep)


def idempotency_keys() -> PruneTarget:
    """Idempotency keys once expired: `expires_at` already holds their retention."""
    return PruneTarget(IDEMPOTENCY_KEYS, "expires_at", 0.0)


def published_outbox(keep: float) -> PruneTarget:
    """Outbox rows `keep` seconds after they were published; unpublished ones stay."""
    return PruneTarget(OUTBOX, "published_at", keep)
