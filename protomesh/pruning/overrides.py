"""Shorter retentions from the environment, for soak runs and tests only.

`PROTOMESH_PRUNE_PROCESSED_EVENTS`, `PROTOMESH_PRUNE_OUTBOX` and
`PROTOMESH_PRUNE_EVERY` (seconds) replace the registry's `retention` values
for every service of the process's environment, so a run of a few minutes
sees pruning happen. They skip the registry's floor on processed_events:
a service given one below it says so in its log at start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from protomesh.config import load_config, setting
from protomesh.registry.model import DAY, EVENT_STREAM_MAX_AGE, Retention

PREFIX = "PROTOMESH_PRUNE_"
log = logging.getLogger("protomesh.pruning")


@dataclass(frozen=True, kw_only=True)
class PruneOverrides:
    processed_events: float | None = setting(None, minimum=1.0, doc="seconds; not in production")
    outbox: float | None = setting(None, minimum=1.0, doc="seconds published rows are kept")
    every: float | None = setting(None, minimum=0.1, doc="seconds between pruning rounds")


def effective_retention(retention: Retention, env: Mapping[str, str] | None = None) -> Retention:
    """The registry's `retention`, with the environment's overrides applied."""
    overrides = load_config(PruneOverrides, PREFIX, env)
    chosen = {
        name: value
        for name in ("processed_events", "outbox", "every")
        if (value := getattr(overrides, name)) is not None
    }
    effective = replace(retention, **chosen)
    if effective.processed_events < EVENT_STREAM_MAX_AGE:
        log.warning(
            "processed event ids are kept %.0fs, less than the event streams' max_age (%gd):"
            " a late redelivery could repeat an effect; meant for test runs only",
            effective.processed_events,
            EVENT_STREAM_MAX_AGE / DAY,
        )
    return effective
