"""A read-through cache in two tiers, with single-flight loads and eviction by key.

    profiles = TieredCache("profile", codec=PROFILE_CODEC, shared=kv, maxsize=10_000, ttl=30)
    profile = await profiles.get_or_load(f"profile.{user}", lambda: users.profile(user))
    await profiles.evict(f"profile.{user}")   # its source changed (an event said so)

A lookup tries tier 1 (this process: cachetools' TTLCache, bounded in size
and age), then tier 2 (`shared`, e.g. a KV bucket every replica uses), then
calls `load`. Concurrent misses on one key share a single load (single
flight): a hundred requests for a cold key make one backend call. Only a
value `load` returned is stored: a raised error is never cached (a caller
that must not cache a partial answer raises instead of returning it).

An eviction that lands while a load of the same key is in flight marks that
load stale: its value still answers the callers waiting for it, but is not
stored, so an event is never undone by a read that started before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cachetools import TTLCache

from protomesh.cache.shared_tier import NoSharedTier, SharedTier
from protomesh.telemetry.cache_metrics import count_eviction, count_lookup

log = logging.getLogger("protomesh.cache")
Value = TypeVar("Value")


@dataclass(frozen=True)
class Codec(Generic[Value]):
    """How a value travels through the shared tier (bytes both ways)."""

    encode: Callable[[Value], bytes]
    decode: Callable[[bytes], Value]


@dataclass
class _Flight(Generic[Value]):
    task: asyncio.Task[Value] | None = None
    stale: bool = field(default=False)


class TieredCache(Generic[Value]):
    def __init__(
        self,
        name: str,
        *,
        codec: Codec[Value],
        maxsize: int,
        ttl: float,
        shared: SharedTier | None = None,
    ) -> None:
        self.name = name
        self._codec = codec
        self._local: TTLCache[str, Value] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._shared: SharedTier = shared or NoSharedTier()
        self._flights: dict[str, _Flight[Value]] = {}

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[Value]]) -> Value:
        """The value of `key` from the nearest tier that has it, else from `load`.

        Cancelling the caller (its deadline) leaves the shared load running
        for the others waiting on it.
        """
        local = self._local.get(key)
        if local is not None:
            count_lookup(self.name, 1, hit=True)
            return local
        count_lookup(self.name, 1, hit=False)
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight()
            flight.task = asyncio.ensure_future(self._fill(key, load, flight))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda _: self._land(key, flight))
        assert flight.task is not None
        return await asyncio.shield(flight.task)

    async def evict(self, key: str) -> None:
        """Drop `key` from both tiers: its source changed."""
        self.evict_local(key)
        await self._shared.delete(key)

    def evict_local(self, key: str) -> None:
        count_eviction(self.name)
        self._local.pop(key, None)
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.stale = True

    def __len__(self) -> int:
        return len(self._local)

    async def _fill(
        self, key: str, load: Callable[[], Awaitable[Value]], flight: _Flight[Value]
    ) -> Value:
        raw = await self._shared.get(key)
        if raw is not None:
            try:
                value = self._codec.decode(raw)
            except Exception as error:  # an entry from another version: reload it
                log.warning("undecodable shared cache entry %s: %r", key, error)
            else:
                count_lookup(self.name, 2, hit=True)
                if not flight.stale:
                    self._local[key] = value
                return value
        count_lookup(self.name, 2, hit=False)
        value = await load()
        if not flight.stale:
            self._local[key] = value
            await self._shared.put(key, self._codec.encode(value))
        return value

    def _land(self, key: str, flight: _Flight[Value]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        task = flight.task
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: a failed load is the callers' to handle
