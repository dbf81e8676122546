"""The pruner's batching and schedule, on a fake clock and an in-memory store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from protomesh.pruning import Pruner, PruneTarget, processed_events, published_outbox
from protomesh.pruning.store import Deleter

KEEP = 100.0


class FakeClock:
    """Time moves only when the pruner sleeps; after `rounds` sleeps it waits for ever."""

    def __init__(self, rounds: int = 1_000) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._left = rounds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self._left -= 1
        if self._left < 0:
            await asyncio.Event().wait()


class FakeTables:
    """Rows as their timestamp per table; a DELETE takes the oldest expired ones."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: dict[str, list[float]] = {}
        self.statements: list[tuple[str, int]] = []
        self.held_elsewhere = False
        self.failures = 0  # statements to fail before working again

    def add(self, table: str, stamps: Iterator[float] | list[float]) -> None:
        self.rows.setdefault(table, []).extend(stamps)

    async def delete_expired(self, target: PruneTarget, limit: int) -> int:
        if self.failures:
            self.failures -= 1
            raise OSError("connection refused")
        rows = sorted(self.rows.get(target.table, []))
        expired = [stamp for stamp in rows if stamp + target.keep < self.clock.now][:limit]
        self.rows[target.table] = rows[len(expired) :]
        self.statements.append((target.table, len(expired)))
        return len(expired)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Deleter | None]:
        yield None if self.held_elsewhere else self


def pruner(tables: FakeTables, *targets: PruneTarget, **options: float) -> Pruner:
    settings: dict[str, float] = {"every": 60.0, "batch": 1000, "max_batches": 20} | options
    return Pruner(
        tables,
        targets or (processed_events(KEEP),),
        every=settings["every"],
        batch=int(settings["batch"]),
        max_batches=int(settings["max_batches"]),
        pause=0.01,
        sleep=tables.clock.sleep,
        uniform=lambda: 0.5,
    )


async def test_a_round_deletes_in_batches_until_one_comes_back_short() -> None:
    clock = FakeClock()
    tables = FakeTables(clock)
    tables.add("processed_events", [0.0] * 2_500)
    tables.add("processed_events", [150.0] * 10)  # handled later: still inside KEEP
    clock.now = 200.0

    outcome = await pruner(tables).prune_once()

    assert outcome is not None
    assert outcome.deleted == {"processed_events": 2_500}
    assert not outcome.more
    assert tables.statements == [("processed_events", n) for n in (1000, 1000, 500)]
    assert tables.rows["processed_events"] == [150.0] * 10
    assert clock.sleeps == [0.01, 0.01]  # a pause between statements, none before the first


async def test_a_round_stops_at_max_batches_and_says_more_is_left() -> None:
    clock = FakeClock()
    tables = FakeTables(clock)
    tables.add("processed_events", [0.0] * 5_000)
    tables.add("outbox", [0.0] * 30)
    clock.now = 200.0

    outcome = await pruner(
        tables, processed_events(KEEP), published_outbox(KEEP), max_batches=3
    ).prune_once()

    assert outcome is not None
    assert outcome.more
    assert outcome.deleted == {"processed_events": 3_000, "outbox": 30}  # the cap is per table
    assert len(tables.rows["processed_events"]) == 2_000


async def test_a_round_exactly_filling_its_last_batch_counts_as_more() -> None:
    clock = FakeClock()
    tables = FakeTables(clock)
    tables.add("processed_events", [0.0] * 2_000)
    clock.now = 200.0
    outcome = await pruner(tables, max_batches=2).prune_once()
    assert outcome is not None
    assert outcome.more


async def test_another_replica_holding_the_turn_means_the_round_is_skipped() -> None:
    clock = FakeClock()
    tables = FakeTables(clock)
    tables.add("processed_events", [0.0] * 10)
    clock.now = 200.0
    tables.held_elsewhere = True
    assert await pruner(tables).prune_once() is None
    assert len(tables.rows["processed_events"]) == 10


async def wait_for_sleeps(clock: FakeClock, count: int) -> None:
    async with asyncio.timeout(5):
        while len(clock.sleeps) < count:
            await asyncio.sleep(0)


async def test_rounds_follow_a_jittered_period_starting_at_a_random_point() -> None:
    clock = FakeClock(rounds=4)
    tables = FakeTables(clock)
    draws = iter([0.25, 0.0, 0.999, 0.5, 0.5])
    worker = Pruner(
        tables,
        [processed_events(KEEP)],
        every=60.0,
        batch=1000,
        jitter=0.2,
        sleep=clock.sleep,
        uniform=lambda: next(draws),
    )
    await worker.start()
    await wait_for_sleeps(clock, 5)
    await worker.stop()
    # First at a quarter of the period, then 60 s ± 20 %; every round found nothing.
    assert clock.sleeps == pytest.approx([15.0, 48.0, 71.976, 60.0, 60.0])
    assert tables.statements == [("processed_events", 0)] * 4


async def test_a_capped_round_is_followed_after_catch_up_instead_of_a_period() -> None:
    clock = FakeClock(rounds=3)
    tables = FakeTables(clock)
    tables.add("processed_events", [0.0] * 2_500)
    worker = pruner(tables, every=600.0, max_batches=1)
    await worker.start()
    await wait_for_sleeps(clock, 4)
    await worker.stop()
    # 300 s (half the period) first; each capped round is followed after 1 s, the last
    # one (500 rows, not capped) waits a whole period again.
    rounds = [s for s in clock.sleeps if s != 0.01]
    assert rounds[:4] == pytest.approx([300.0, 1.0, 1.0, 600.0])
    assert tables.rows["processed_events"] == []


async def test_a_failing_round_is_retried_next_period_and_the_worker_lives_on() -> None:
    clock = FakeClock(rounds=2)
    tables = FakeTables(clock)
    tables.add("processed_events", [-KEEP] * 5)
    tables.failures = 1
    worker = pruner(tables)
    await worker.start()
    await wait_for_sleeps(clock, 3)
    await worker.stop()
    assert clock.sleeps == [30.0, 60.0, 60.0]
    assert tables.rows["processed_events"] == []


def test_bad_settings_are_refused() -> None:
    tables = FakeTables(FakeClock())
    with pytest.raises(ValueError, match="positive"):
        Pruner(tables, [], every=0, batch=10)
    with pytest.raises(ValueError, match="plain SQL name"):
        PruneTarget("events; drop table x", "at", 1.0)
