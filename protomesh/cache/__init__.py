"""Read-through caching for services that compose others' data (pattern 15).

- `TieredCache`: tier 1 in the process (cachetools' TTLCache: bounded in
  size and age), single-flight loads (concurrent misses on a key share one
  backend call), tier 2 shared by every replica behind a `SharedTier`;
- `KeyValueTier`: that shared tier over a JetStream key-value bucket, which
  turns every failure into a miss, so the cache never fails a request.
"""

from __future__ import annotations

from protomesh.cache.shared_tier import KeyValueTier, NoSharedTier, SharedTier
from protomesh.cache.tiers import Codec, TieredCache

__all__ = ["Codec", "KeyValueTier", "NoSharedTier", "SharedTier", "TieredCache"]
