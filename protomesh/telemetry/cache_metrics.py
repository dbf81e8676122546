"""Cache counters in the process's RED metrics: hits and misses per cache and tier.

`cache_lookups_total{cache="profile", tier="1", result="hit"}` and so on; a
tier-2 lookup happens only after a tier-1 miss, so tier 1's misses are the
sum of tier 2's lookups. `cache_shared_tier_failures_total` counts the
operations the shared tier (a JetStream KV bucket) could not do: the cache
then serves from tier 1 and the backends. Made on first use, once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter, Gauge


@dataclass(frozen=True)
class CacheInstruments:
    lookups: Counter
    evictions: Counter
    shared_failures: Counter
    shared_available: Gauge


@functools.cache
def cache_instruments() -> CacheInstruments:
    return CacheInstruments(
        lookups=Counter(
            "cache_lookups", "Cache lookups by cache, tier and result", ["cache", "tier", "result"]
        ),
        evictions=Counter(
            "cache_evictions", "Entries evicted because an event changed their source", ["cache"]
        ),
        shared_failures=Counter(
            "cache_shared_tier_failures",
            "Shared-tier (KV bucket) operations that failed and were skipped",
            ["operation"],
        ),
        shared_available=Gauge(
            "cache_shared_tier_available", "1 while the shared tier answers, else 0"
        ),
    )


def count_lookup(cache: str, tier: int, *, hit: bool) -> None:
    cache_instruments().lookups.labels(cache, str(tier), "hit" if hit else "miss").inc()


def count_eviction(cache: str) -> None:
    cache_instruments().evictions.labels(cache).inc()


def count_shared_failure(operation: str) -> None:
    cache_instruments().shared_failures.labels(operation).inc()


def set_shared_available(available: bool) -> None:
    cache_instruments().shared_available.set(1 if available else 0)
