"""Delete expired rows of the runtime's tables on a schedule: a Worker of the service.

Every `every` seconds (±`jitter` of it, so replicas drift apart; the first
round at a random point of the first period, so replicas started together do
not line up) one round runs. A round takes the store's exclusive turn (one
replica prunes a schema at a time; the others skip), then per table deletes
`batch` rows per statement until a statement deletes fewer, or `max_batches`
statements ran. A round that stopped at that cap left expired rows behind:
the next round follows after `catch_up` seconds instead of a whole period,
so pruning keeps up with a high write rate without one round running long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from protomesh.pruning.store import PruneStore
from protomesh.pruning.targets import PruneTarget
from protomesh.telemetry.pruning_metrics import count_pruned, count_round

log = logging.getLogger("protomesh.pruning")

Sleep = Callable[[float], Awaitable[None]]
# What a round may meet while PostgreSQL is away or restarting; it is tried again next period.
_PASSING = (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class Round:
    """What one round deleted per table, and whether expired rows were left for the next."""

    deleted: dict[str, int]
    more: bool


class Pruner:
    """`start()` runs rounds in the background; `stop()` ends them, mid-round included.

    Stopping mid-round is safe: each DELETE commits on its own, and the
    interrupted one rolls back.
    """

    def __init__(
        self,
        store: PruneStore,
        targets: Sequence[PruneTarget],
        *,
        every: float,
        batch: int,
        max_batches: int = 20,
        pause: float = 0.05,
        catch_up: float = 1.0,
        jitter: float = 0.2,
        sleep: Sleep = asyncio.sleep,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        """`pause`: seconds between two statements, so a long round leaves the
        pool and the disk to the RPCs in between. `sleep` and `uniform` (a float
        in [0, 1)) are the clock and the dice; tests hand in fakes."""
        if every <= 0 or batch < 1 or max_batches < 1 or not 0 <= jitter < 1:
            raise ValueError("every and batch must be positive, jitter in [0, 1)")
        self._store = store
        self._targets = tuple(targets)
        self._every = every
        self._batch = batch
        self._max_batches = max_batches
        self._pause = pause
        self._catch_up = catch_up
        self._jitter = jitter
        self._sleep = sleep
        self._uniform = uniform
        self._task: asyncio.Task[None] | None = None

    def first_delay(self) -> float:
        return self._uniform() * self._every

    def next_delay(self) -> float:
        return self._every * (1 + self._jitter * (2 * self._uniform() - 1))

    async def prune_once(self) -> Round | None:
        """One round now; None when another replica holds the turn."""
        async with self._store.exclusive() as deleter:
            if deleter is None:
                count_round("skipped")
                return None
            deleted: dict[str, int] = {}
            more = False
            for target in self._targets:
                total, full = 0, True
                for index in range(self._max_batches):
                    if index:
                        await self._sleep(self._pause)
                    rows = await deleter.delete_expired(target, self._batch)
                    total += rows
                    full = rows == self._batch
                    if not full:
                        break
                more = more or full
                deleted[target.table] = total
                count_pruned(target.table, total)
        count_round("pruned")
        return Round(deleted, more)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pruner")

    async def _loop(self) -> None:
        delay = self.first_delay()
        while True:
            await self._sleep(delay)
            delay = self.next_delay()
            try:
                outcome = await self.prune_once()
            except _PASSING as error:
                count_round("failed")
                log.warning("pruning failed, trying again next period: %r", error)
                continue
            if outcome is None:
                continue
            if outcome.more:
                delay = self._catch_up
            pruned = {table: rows for table, rows in outcome.deleted.items() if rows}
            if pruned:
                log.info("pruned expired rows", extra={"pruned": pruned, "more": outcome.more})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
