"""TieredCache: tiers in order, single flight, errors never stored, evictions win."""

from __future__ import annotations

import asyncio

import pytest

from protomesh.cache import Codec, TieredCache

TEXT = Codec(str.encode, bytes.decode)


class FakeSharedTier:
    """Tier 2 as a dict, shared by the caches a test makes."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.entries.get(key)

    async def put(self, key: str, value: bytes) -> None:
        self.entries[key] = value

    async def delete(self, key: str) -> None:
        self.entries.pop(key, None)


class Backend:
    def __init__(self, value: str = "v1") -> None:
        self.calls = 0
        self.value = value
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def load(self) -> str:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise ConnectionError("backend down")
        return self.value


def cache(shared: FakeSharedTier | None = None) -> TieredCache[str]:
    return TieredCache("test", codec=TEXT, maxsize=100, ttl=60, shared=shared)


async def test_concurrent_misses_on_one_key_share_one_load() -> None:
    backend, tiers = Backend(), cache()
    backend.release.clear()
    waiting = [asyncio.ensure_future(tiers.get_or_load("k", backend.load)) for _ in range(100)]
    await asyncio.sleep(0)
    backend.release.set()
    assert set(await asyncio.gather(*waiting)) == {"v1"}
    assert backend.calls == 1


async def test_a_failed_load_is_not_cached_and_the_next_lookup_loads_again() -> None:
    backend, tiers = Backend(), cache()
    backend.fail = True
    with pytest.raises(ConnectionError):
        await tiers.get_or_load("k", backend.load)
    backend.fail = False
    assert await tiers.get_or_load("k", backend.load) == "v1"
    assert backend.calls == 2


async def test_tier_two_answers_a_cold_tier_one_and_a_load_fills_both() -> None:
    shared = FakeSharedTier()
    first, second, backend = cache(shared), cache(shared), Backend()
    assert await first.get_or_load("k", backend.load) == "v1"
    assert shared.entries == {"k": b"v1"}
    assert await second.get_or_load("k", backend.load) == "v1"
    assert backend.calls == 1


async def test_an_eviction_during_a_load_keeps_that_loads_value_out_of_the_cache() -> None:
    shared = FakeSharedTier()
    backend, tiers = Backend("old"), cache(shared)
    backend.release.clear()
    loading = asyncio.ensure_future(tiers.get_or_load("k", backend.load))
    await asyncio.sleep(0)
    await tiers.evict("k")  # the source changed while the read was on its way
    backend.release.set()
    assert await loading == "old"  # its caller still gets an answer
    backend.value = "new"
    assert await tiers.get_or_load("k", backend.load) == "new"
    assert shared.entries == {"k": b"new"}


async def test_an_undecodable_shared_entry_is_a_miss() -> None:
    shared = FakeSharedTier()
    shared.entries["k"] = b"\xff\xfe"
    backend = Backend()
    assert await cache(shared).get_or_load("k", backend.load) == "v1"
    assert backend.calls == 1
