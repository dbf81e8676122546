"""An in-memory unit of work with the contract of protomesh.db.unit_of_work.PostgresUnitOfWork.

Units run one at a time (one lock stands in for the row locks), a unit left
without `commit` puts the rows back as they were, events reach `events`
only at commit, and idempotency keys behave like `idempotency_keys`: a
repeat raises AlreadyAnswered on entering, another request KeyReused.
Each context's fake subclasses it to name its repository.
"""

from __future__ import annotations

import asyncio
import uuid
from types import TracebackType
from typing import Generic, Self, TypeVar

from protomesh.idempotency import AlreadyAnswered, IdempotentCall, IdempotentReply, KeyReused

Row = TypeVar("Row")
Event = TypeVar("Event")
Result = TypeVar("Result")


class InMemoryLedger:
    """Spent keys and their replies, by (caller, key)."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], tuple[IdempotentCall, bytes]] = {}

    def stored(self, call: IdempotentCall) -> bytes | None:
        found = self.replies.get((call.caller, call.key))
        if found is None:
            return None
        first, response = found
        if (first.method, first.request_hash) != (call.method, call.request_hash):
            raise KeyReused(call, first.method)
        return response


class InMemoryUnitOfWork(Generic[Row, Event, Result]):
    def __init__(
        self,
        rows: dict[uuid.UUID, Row],
        events: list[Event],
        ledger: InMemoryLedger,
        lock: asyncio.Lock,
        reply: IdempotentReply[Result] | None,
    ) -> None:
        self.rows = rows
        self._events = events
        self._ledger = ledger
        self._lock = lock
        self._reply = reply
        self._pending: list[Event] = []
        self._snapshot: dict[uuid.UUID, Row] = {}
        self.committed = False

    async def raise_if_answered(self) -> None:
        if self._reply is None:
            return
        stored = self._ledger.stored(self._reply.call)
        if stored is not None:
            raise AlreadyAnswered(stored)

    async def __aenter__(self) -> Self:
        await self._lock.acquire()
        try:
            await self.raise_if_answered()
        except BaseException:
            self._lock.release()
            raise
        self._snapshot = dict(self.rows)
        return self

    def publish(self, event: Event) -> None:
        self._pending.append(event)

    async def commit(self, result: Result) -> None:
        self._events.extend(self._pending)
        if self._reply is not None:
            call = self._reply.call
            self._ledger.replies[(call.caller, call.key)] = (call, self._reply.encode(result))
        self.committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.rows.clear()
            self.rows.update(self._snapshot)
        self._pending = []
        self._lock.release()
