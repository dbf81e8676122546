"""Apply one event to a table set, exactly once, inside the caller's transaction.

The live projector calls this for every delivered event; the rebuild calls it
for the events that arrive while it swaps. One statement path, the rules of
`domain.apply`, and the event id recorded in the set's own `applied_events`
in the same transaction: a redelivery, or an event the rebuilt set already
holds, changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from protomesh.bus.processed import record_once
from services.reporting.domain import CustomerSummary, Fact, OrderTotal, apply, order_id_of
from services.reporting.tables import APPLIED, ORDERS, POSITIONS, SUMMARIES, Connection, table


async def apply_event(
    connection: Connection,
    *,
    consumer: str,
    event_id: str,
    stream: str,
    sequence: int,
    event_time: datetime,
    fact: Fact,
    suffix: str = "",
) -> bool:
    """Apply `fact` unless `event_id` is already in the set; True when it was applied now.

    A repeat still moves the stream's position: the model holds its effect.
    """
    if not await record_once(connection, consumer, event_id, table=table(APPLIED, suffix)):
        await advance(connection, stream, sequence, event_time, suffix)
        return False
    summary = await _summary(connection, fact.customer_id, suffix)
    order_id = order_id_of(fact)
    order = await _order(connection, order_id, suffix) if order_id else None
    summary, order = apply(summary, order, fact)
    await save_summary(connection, summary, suffix)
    if order is not None:
        await save_order(connection, order, suffix)
    await advance(connection, stream, sequence, event_time, suffix)
    return True


async def _summary(connection: Connection, customer_id: str, suffix: str) -> CustomerSummary:
    """The customer's summary, locked until the transaction ends.

    The row is made first if missing, so there is always a row to lock: the
    order and the user consumers may both meet a new customer at once, and
    without a lock the second write would overwrite the first.
    """
    await connection.execute(
        f"INSERT INTO {table(SUMMARIES, suffix)} (customer_id) VALUES ($1)"
        " ON CONFLICT (customer_id) DO NOTHING",
        customer_id,
    )
    row = await connection.fetchrow(
        f"SELECT display_name, orders_placed, orders_cancelled, spent, last_order_time"
        f" FROM {table(SUMMARIES, suffix)} WHERE customer_id = $1 FOR UPDATE",
        customer_id,
    )
    assert row is not None  # made above
    return CustomerSummary(
        customer_id,
        row["display_name"],
        row["orders_placed"],
        row["orders_cancelled"],
        {code: int(amount) for code, amount in json.loads(row["spent"]).items()},
        row["last_order_time"],
    )


async def _order(connection: Connection, order_id: str, suffix: str) -> OrderTotal | None:
    row = await connection.fetchrow(
        f"SELECT customer_id, currency_code, amount_minor, cancelled"
        f" FROM {table(ORDERS, suffix)} WHERE order_id = $1 FOR UPDATE",
        order_id,
    )
    if row is None:
        return None
    return OrderTotal(order_id, row[0], row[1], row[2], row[3])


async def save_summary(connection: Connection, summary: CustomerSummary, suffix: str) -> None:
    await connection.execute(
        f"INSERT INTO {table(SUMMARIES, suffix)} AS s (customer_id, display_name, orders_placed,"
        " orders_cancelled, spent, last_order_time) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
        " ON CONFLICT (customer_id) DO UPDATE SET display_name = EXCLUDED.display_name,"
        " orders_placed = EXCLUDED.orders_placed, orders_cancelled = EXCLUDED.orders_cancelled,"
        " spent = EXCLUDED.spent, last_order_time = EXCLUDED.last_order_time",
        *summary_row(summary),
    )


async def save_order(connection: Connection, order: OrderTotal, suffix: str) -> None:
    await connection.execute(
        f"INSERT INTO {table(ORDERS, suffix)} (order_id, customer_id, currency_code,"
        " amount_minor, cancelled) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO UPDATE"
        " SET currency_code = EXCLUDED.currency_code, amount_minor = EXCLUDED.amount_minor,"
        " cancelled = EXCLUDED.cancelled",
        *order_row(order),
    )


async def advance(
    connection: Connection, stream: str, sequence: int, event_time: datetime, suffix: str
) -> None:
    """Move the stream's position forward (never back: a retried event may be older)."""
    await connection.execute(
        f"INSERT INTO {table(POSITIONS, suffix)} AS p (stream, sequence, event_time, applied_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (stream) DO UPDATE SET"
        " sequence = EXCLUDED.sequence, event_time = EXCLUDED.event_time,"
        " applied_at = EXCLUDED.applied_at WHERE p.sequence < EXCLUDED.sequence",
        stream,
        sequence,
        event_time,
        datetime.now(UTC),
    )


def summary_row(summary: CustomerSummary) -> tuple[object, ...]:
    return (
        summary.customer_id,
        summary.display_name,
        summary.orders_placed,
        summary.orders_cancelled,
        json.dumps(summary.spent, sort_keys=True),
        summary.last_order_time,
    )


def order_row(order: OrderTotal) -> tuple[object, ...]:
    return (
        order.order_id,
        order.customer_id,
        order.currency_code,
        order.amount_minor,
        order.cancelled,
    )
