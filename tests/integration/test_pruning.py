"""protomesh.pruning on the real PostgreSQL: expired rows of the runtime's tables go in
bounded batches, live ones stay, and two replicas never prune one schema at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY

from protomesh.bus.processed import install_processed_events
from protomesh.idempotency import install_idempotency
from protomesh.outbox import install_outbox
from protomesh.pruning import PostgresPruneStore, Pruner, runtime_targets
from protomesh.registry import Retention
from tests.support.postgres import Postgres, fresh_schema_pool

pytestmark = pytest.mark.integration

HOUR = 3600.0
RETENTION = Retention(processed_events=8 * 24 * HOUR, outbox=HOUR, every=0.2, batch=7)
OLD = "now() - interval '9 days'"  # past every retention above
RECENT = "now() - interval '10 minutes'"  # inside every retention above


@pytest.fixture
async def pool(postgres: Postgres) -> AsyncIterator[asyncpg.Pool]:
    installs = (install_processed_events, install_idempotency, install_outbox)
    async with fresh_schema_pool(postgres, *installs, prefix="prune") as pool:
        yield pool


async def fill(pool: asyncpg.Pool, *, expired: int, live: int) -> None:
    """`expired` and `live` rows in each table; unpublished outbox rows are old but live."""
    for count, when, tag in ((expired, OLD, "old"), (live, RECENT, "new")):
        await pool.execute(
            "INSERT INTO processed_events (consumer, event_id, processed_at)"
            f" SELECT 'c', '{tag}' || i, {when} FROM generate_series(1, $1) i",
            count,
        )
        await pool.execute(
            "INSERT INTO idempotency_keys (caller, key, method, request_hash, expires_at)"
            f" SELECT 'x', '{tag}' || i, '/m', '\\x00', {when} + interval '1 day'"
            " FROM generate_series(1, $1) i",
            count,
        )
        for published in ("published", None):
            await pool.executemany(
                "INSERT INTO outbox (id, aggregate_type, aggregate_id, sequence, event_type,"
                " schema_version, subject, payload, occurred_at, published_at)"
                f" VALUES ($1, 'a', $2, 0, 't', 1, 's', '', {when},"
                f" CASE WHEN $3 THEN {when} END)",
                [(event, str(event), published is not None) for event in ids(count)],
            )


def ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("processed_events", "idempotency_keys", "outbox")
    }


def pruned_total(table: str) -> float:
    return REGISTRY.get_sample_value("pruned_rows_total", {"table": table}) or 0.0


async def test_a_round_deletes_expired_rows_in_batches_and_keeps_live_ones(
    pool: asyncpg.Pool,
) -> None:
    await fill(pool, expired=20, live=5)
    before = pruned_total("processed_events")
    pruner = Pruner(
        PostgresPruneStore(pool),
        runtime_targets(RETENTION),
        every=RETENTION.every,
        batch=RETENTION.batch,
    )

    outcome = await pruner.prune_once()

    assert outcome is not None
    assert not outcome.more
    assert outcome.deleted == {"processed_events": 20, "idempotency_keys": 20, "outbox": 20}
    # Left: the live rows, and every unpublished outbox row however old.
    assert await counts(pool) == {"processed_events": 5, "idempotency_keys": 5, "outbox": 10 + 20}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 25
    assert not await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_id ~ 'old'")
    assert pruned_total("processed_events") - before == 20


async def test_the_worker_prunes_on_its_own_schedule(pool: asyncpg.Pool) -> None:
    await fill(pool, expired=30, live=3)
    pruner = Pruner(
        PostgresPruneStore(pool),
        runtime_targets(RETENTION),
        every=RETENTION.every,
        batch=RETENTION.batch,
        max_batches=2,  # 14 rows a round: the rest goes in catch-up rounds
        catch_up=0.05,
    )
    await pruner.start()
    try:
        async with asyncio.timeout(15):
            while (await counts(pool))["processed_events"] > 3:
                await asyncio.sleep(0.1)
    finally:
        await pruner.stop()
    assert await counts(pool) == {"processed_events": 3, "idempotency_keys": 3, "outbox": 3 + 33}


async def test_a_replica_finding_another_pruning_skips_its_round(
    pool: asyncpg.Pool, postgres: Postgres
) -> None:
    await fill(pool, expired=4, live=0)
    schema = await pool.fetchval("SELECT current_schema()")
    other = await postgres.connect()
    try:
        await other.execute(f"SET search_path = {schema}")
        assert await other.fetchval(
            "SELECT pg_try_advisory_lock(hashtext('protomesh.prune:' || current_schema()))"
        )
        pruner = Pruner(PostgresPruneStore(pool), runtime_targets(RETENTION), every=1, batch=7)
        assert await pruner.prune_once() is None
        assert (await counts(pool))["processed_events"] == 4
    finally:
        await other.close()  # the session's lock goes with it
    assert await pruner.prune_once() is not None
    assert (await counts(pool))["processed_events"] == 0


async def test_a_key_held_by_a_live_transaction_is_skipped_not_waited_for(
    pool: asyncpg.Pool,
) -> None:
    await fill(pool, expired=3, live=0)
    pruner = Pruner(PostgresPruneStore(pool), runtime_targets(RETENTION), every=1, batch=7)
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM idempotency_keys WHERE key = 'old1' FOR UPDATE")
        outcome = await asyncio.wait_for(pruner.prune_once(), 10)
    assert outcome is not None
    assert outcome.deleted["idempotency_keys"] == 2
    assert await pool.fetchval("SELECT key FROM idempotency_keys") == "old1"
