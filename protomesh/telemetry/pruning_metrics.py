"""What the pruner did, in the process's Prometheus registry.

`pruned_rows_total{table}` counts rows deleted because they expired, so a
table's growth can be read against it; `pruning_rounds_total{outcome}` counts
rounds that pruned, that found another replica pruning (`skipped`), and that
failed. Made on first use, once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter


@dataclass(frozen=True)
class _Instruments:
    rows: Counter
    rounds: Counter


@functools.cache
def _instruments() -> _Instruments:
    return _Instruments(
        rows=Counter("pruned_rows", "Expired rows deleted by the pruner, by table", ["table"]),
        rounds=Counter(
            "pruning_rounds", "Pruning rounds by outcome: pruned, skipped, failed", ["outcome"]
        ),
    )


def count_pruned(table: str, rows: int) -> None:
    _instruments().rows.labels(table).inc(rows)


def count_round(outcome: str) -> None:
    _instruments().rounds.labels(outcome).inc()
