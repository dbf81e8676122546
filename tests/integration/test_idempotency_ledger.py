"""protomesh.idempotency's table on the real PostgreSQL: claims, replays, expiry, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from protomesh.idempotency import (
    IdempotentCall,
    KeyReused,
    claim,
    install_idempotency,
    record,
    stored_response,
)
from protomesh.pruning import PostgresPruneStore, Pruner, idempotency_keys
from tests.support.postgres import Postgres, fresh_schema_pool

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(postgres: Postgres) -> AsyncIterator[asyncpg.Pool]:
    # Installed twice: the install is idempotent itself.
    installs = (install_idempotency, install_idempotency)
    async with fresh_schema_pool(postgres, *installs, prefix="idem") as pool:
        yield pool


def call(key: str = "k", request: bytes = b"req") -> IdempotentCall:
    return IdempotentCall(key, "internal", "/pkg.Svc/Do", request)


async def spend(
    pool: asyncpg.Pool, the_call: IdempotentCall, response: bytes, retention: float = 60
) -> bytes | None:
    async with pool.acquire() as connection, connection.transaction():
        stored = await claim(connection, the_call, retention=retention)
        if stored is None:
            await record(connection, the_call, response)
        return stored


async def test_the_first_claim_owns_the_key_and_a_repeat_gets_its_response(
    pool: asyncpg.Pool,
) -> None:
    assert await spend(pool, call(), b"first") is None
    assert await spend(pool, call(), b"second") == b"first"
    assert await stored_response(pool, call()) == b"first"
    with pytest.raises(KeyReused):
        await spend(pool, call(request=b"other"), b"x")
    with pytest.raises(KeyReused):
        await stored_response(pool, call(request=b"other"))


async def test_a_rolled_back_effect_leaves_the_key_free(pool: asyncpg.Pool) -> None:
    async def failing_effect() -> None:
        async with pool.acquire() as connection, connection.transaction():
            assert await claim(connection, call("rb"), retention=60) is None
            raise RuntimeError("effect failed")

    with pytest.raises(RuntimeError, match="effect failed"):
        await failing_effect()
    assert await spend(pool, call("rb"), b"retried") is None


async def test_a_concurrent_duplicate_waits_for_the_first_and_replays_it(
    pool: asyncpg.Pool,
) -> None:
    first_claimed = asyncio.Event()
    release = asyncio.Event()

    async def slow_first() -> bytes | None:
        async with pool.acquire() as connection, connection.transaction():
            stored = await claim(connection, call("race"), retention=60)
            first_claimed.set()
            await release.wait()
            await record(connection, call("race"), b"winner")
            return stored

    first = asyncio.create_task(slow_first())
    await first_claimed.wait()
    second = asyncio.create_task(spend(pool, call("race"), b"loser"))
    await asyncio.sleep(0.2)
    assert not second.done()  # blocked on the key's row, not racing ahead
    release.set()
    assert await first is None
    assert await asyncio.wait_for(second, 10) == b"winner"


async def test_an_expired_key_is_taken_over_and_swept(pool: asyncpg.Pool) -> None:
    assert await spend(pool, call("old"), b"gone", retention=0.001) is None
    await asyncio.sleep(0.01)
    assert await stored_response(pool, call("old")) is None
    assert await spend(pool, call("old", request=b"new body"), b"fresh") is None

    for index in range(7):
        await spend(pool, call(f"exp{index}"), b"r", retention=0.001)
    await spend(pool, call("live"), b"kept", retention=3600)
    await asyncio.sleep(0.01)
    pruner = Pruner(PostgresPruneStore(pool), [idempotency_keys()], every=3600, batch=3)
    swept = await pruner.prune_once()
    assert swept is not None
    assert swept.deleted == {"idempotency_keys": 7}
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 2
    assert await stored_response(pool, call("live")) == b"kept"
