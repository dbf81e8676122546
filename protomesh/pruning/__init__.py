"""Scheduled pruning of the tables that would otherwise grow for ever.

Under steady load three runtime tables gain rows with every write or event:
`processed_events` (the consumers' dedupe), `idempotency_keys`, and the
outbox's published rows. A `Pruner` (a service Worker) deletes their
expired rows in bounded batches on a jittered schedule, one replica at a
time. How long rows are kept is each service's `retention` in mesh.yaml
(`protomesh.registry.retention`). `service_pruner` is the one line a
bootstrap needs:

    workers.append(service_pruner(pool, retention, runtime_targets(retention)))
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from protomesh.pruning.overrides import effective_retention
from protomesh.pruning.pruner import Pruner, Round
from protomesh.pruning.store import PostgresPruneStore, PruneStore
from protomesh.pruning.targets import (
    PruneTarget,
    idempotency_keys,
    processed_events,
    published_outbox,
)
from protomesh.registry.model import Retention


def runtime_targets(retention: Retention) -> list[PruneTarget]:
    """The runtime's own tables, for a service that installs all three."""
    return [
        processed_events(retention.processed_events),
        idempotency_keys(),
        published_outbox(retention.outbox),
    ]


def service_pruner(
    pool: asyncpg.Pool, retention: Retention, targets: Sequence[PruneTarget]
) -> Pruner:
    return Pruner(PostgresPruneStore(pool), targets, every=retention.every, batch=retention.batch)


__all__ = [
    "PostgresPruneStore",
    "PruneStore",
    "PruneTarget",
    "Pruner",
    "Round",
    "effective_retention",
    "idempotency_keys",
    "processed_events",
    "published_outbox",
    "runtime_targets",
    "service_pruner",
]
