"""Delete expired idempotency keys in the background, a bounded batch at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from protomesh.idempotency.ledger import TABLE

log = logging.getLogger("protomesh.idempotency")

# SKIP LOCKED: replicas sweeping at once share the work instead of queueing,
# and a key row held by an in-flight claim is left alone.
_SWEEP = f"""
DELETE FROM {TABLE} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {TABLE} WHERE expires_at <= now()
    ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED))
"""


class ExpiredKeySweeper:
    """A worker (`start`/`stop`) that runs `sweep` every `interval` seconds.

    Each round deletes at most `batch_size` rows per statement and at most
    `max_batches` statements, so one round never holds locks or the pool long.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval: float,
        batch_size: int = 500,
        max_batches: int = 20,
    ) -> None:
        self._pool = pool
        self._interval = interval
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """Delete expired keys now; returns how many went."""
        deleted = 0
        for _ in range(self._max_batches):
            status = await self._pool.execute(_SWEEP, self._batch_size)
            count = int(status.split()[-1])
            deleted += count
            if count < self._batch_size:
                break
        return deleted

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="idempotency-sweeper")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                deleted = await self.sweep()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("sweeping expired idempotency keys failed: %r", error)
                continue
            if deleted:
                log.info("deleted %d expired idempotency keys", deleted)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
