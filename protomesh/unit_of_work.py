"""The unit-of-work port: one atomic change, as a use case sees it.

A handler opens the unit, loads and saves through the context's repository,
hands the domain's events to `publish` and ends with `commit(result)`:

    async with uow:                                 # begin; a repeated key stops here
        order = await uow.orders.get_for_update(order_id)
        cancelled, event = order.cancel(reason, now)
        await uow.orders.save(cancelled)
        uow.publish(event)                          # to the outbox, in this transaction
        await uow.commit(cancelled)                 # events, idempotent reply, COMMIT

Leaving the block without `commit` rolls everything back. Whether the call is
idempotent, and how its reply is serialized, was decided by the transport
when it built the unit (`protomesh.idempotency.IdempotentReply`): the handler
passes its domain result and never sees bytes. Each context extends this
Protocol with its repository (`OrderUnitOfWork.orders`); the PostgreSQL
implementation is `protomesh.db.unit_of_work.PostgresUnitOfWork`, and every
context keeps an in-memory fake for its unit tests.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, TypeVar

Event_contra = TypeVar("Event_contra", contravariant=True)
Result_contra = TypeVar("Result_contra", contravariant=True)


class UnitOfWork(Protocol[Event_contra, Result_contra]):
    async def __aenter__(self) -> Self:
        """Begin. Raises AlreadyAnswered for a call whose key was spent on this
        request, KeyReused for a key spent on another; a concurrent duplicate
        waits here until the first commits or rolls back."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back unless committed; give the connection back."""

    async def raise_if_answered(self) -> None:
        """Outside the block, a cheap look before work that cannot be undone (a call
        to another service): raises AlreadyAnswered for a finished repeat."""

    def publish(self, event: Event_contra) -> None:
        """Queue a domain event; it is written to the outbox by `commit`."""

    async def commit(self, result: Result_contra) -> None:
        """Write the queued events and, for an idempotent call, `result` as its
        reply; then commit and wake the outbox relay."""
