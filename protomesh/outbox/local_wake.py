"""Relays in this process, by schema: a commit wakes its own relay without a NOTIFY.

A service runs its outbox relay in-process. After each commit the writer used
to send a NOTIFY to wake it: a round trip from the service to PostgreSQL, the
notification queue's work there, and the delivery back to the relay's LISTEN
connection in the same process, per order. When a relay of the connection's
schema runs in this process and is awake (connected to NATS, LISTENing), the
writer sets its wake-up event directly and sends nothing
(`protomesh.outbox.writer.notify_relay`).

Relays of the schema in other processes are then not woken: they find the rows
on their next poll, and this process's relay publishes them first anyway. A
relay that is not awake (NATS away, PostgreSQL reconnecting) answers no, and
the NOTIFY goes out as before.
"""

from __future__ import annotations

from collections.abc import Callable

# Answers whether its relay was woken (False: not awake, send the NOTIFY).
Waker = Callable[[], bool]

_wakers: dict[str, list[Waker]] = {}


def register(schema: str, waker: Waker) -> Callable[[], None]:
    """Make `waker` answer commits on `schema`; returns the call that withdraws it."""
    _wakers.setdefault(schema, []).append(waker)

    def withdraw() -> None:
        wakers = _wakers.get(schema, [])
        if waker in wakers:
            wakers.remove(waker)
        if not wakers:
            _wakers.pop(schema, None)

    return withdraw


def wake_local(schema: str) -> bool:
    """Wake an awake relay of `schema` in this process; False if there is none."""
    return any(waker() for waker in _wakers.get(schema, ()))
