"""PostgresUnitOfWork: one use case's transaction on one pooled connection.

Everything a change must make atomic commits together here: the context's
rows (through the repository a subclass builds on `connection`), its events
in the outbox (`protomesh.outbox.append_event`) and, for a call with an
idempotency key, the key and its reply (`protomesh.idempotency.claim` on
entering, `record` at commit). After the commit a NOTIFY wakes the relay:
a hint outside the transaction, since the relay polls as well (this
process's own relay, when awake, is woken without one: `notify_relay`).

A context subclasses it to name its repository, and hands in how its domain
events become outbox records:

    class PostgresOrderUnitOfWork(PostgresUnitOfWork[Event, Order]):
        @property
        def orders(self) -> PostgresOrderRepository:
            return PostgresOrderRepository(self.connection)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

import asyncpg
from google.protobuf.message import Message

from protomesh.idempotency.calls import AlreadyAnswered, IdempotentReply
from protomesh.idempotency.ledger import claim, record, stored_response
from protomesh.outbox.writer import append_event, notify_relay
from protomesh.telemetry.propagation import inject_headers

Connection = asyncpg.pool.PoolConnectionProxy
Event = TypeVar("Event")
Result = TypeVar("Result")
log = logging.getLogger("protomesh.db")


@dataclass(frozen=True)
class OutboxRecord:
    """A domain event as the outbox stores it: whose it is, its place, its wire form."""

    aggregate_type: str
    aggregate_id: str
    sequence: int
    message: Message


class PostgresUnitOfWork(Generic[Event, Result]):
    """`protomesh.unit_of_work.UnitOfWork` over asyncpg; one instance per call."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        to_outbox: Callable[[Event], OutboxRecord],
        reply: IdempotentReply[Result] | None,
        retention: float,
    ) -> None:
        self._pool = pool
        self._to_outbox = to_outbox
        self._reply = reply
        self._retention = retention
        self._connection: Connection | None = None
        self._transaction: asyncpg.transaction.Transaction | None = None
        self._pending: list[OutboxRecord] = []
        self._committed = False

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for the context's repository."""
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._connection

    async def raise_if_answered(self) -> None:
        if self._reply is None:
            return
        stored = await stored_response(self._pool, self._reply.call)
        if stored is not None:
            raise AlreadyAnswered(stored)

    async def __aenter__(self) -> Self:
        connection: Connection = await self._pool.acquire()
        transaction = connection.transaction()
        try:
            await transaction.start()
            if self._reply is not None:
                # A concurrent duplicate blocks here until the first call ends.
                stored = await claim(connection, self._reply.call, retention=self._retention)
                if stored is not None:
                    raise AlreadyAnswered(stored)
        except BaseException:
            await self._rollback(transaction)
            await self._pool.release(connection)
            raise
        self._connection, self._transaction = connection, transaction
        return self

    def publish(self, event: Event) -> None:
        self._pending.append(self._to_outbox(event))

    async def commit(self, result: Result) -> None:
        connection = self.connection
        assert self._transaction is not None
        for pending in self._pending:
            await append_event(
                connection,
                aggregate_type=pending.aggregate_type,
                aggregate_id=pending.aggregate_id,
                sequence=pending.sequence,
                event=pending.message,
                headers=inject_headers(),  # the request's trace and id, on to the consumers
            )
        if self._reply is not None:
            await record(connection, self._reply.call, self._reply.encode(result))
        await self._transaction.commit()
        self._committed = True
        if self._pending:
            await notify_relay(connection)  # logs, never raises: the change is committed

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, transaction = self._connection, self._transaction
        if connection is None or transaction is None:
            return
        self._connection = self._transaction = None
        self._pending = []
        try:
            if not self._committed:
                await self._rollback(transaction)
        finally:
            await self._pool.release(connection)

    async def _rollback(self, transaction: asyncpg.transaction.Transaction) -> None:
        """Roll back; a broken connection rolls back by itself, and its error must not
        hide the one that ended the unit."""
        try:
            await transaction.rollback()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            log.warning("rolling back a unit of work failed: %r", error)
