"""The summary's rules, one fact at a time (pure: no database, no bus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.reporting.domain import (
    CustomerNamed,
    CustomerSummary,
    OrderCancelled,
    OrderPlaced,
    OrderTotal,
    apply,
)

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ADA = "0b0e6a4e-3c47-4f4a-9a43-3f4d1d3f0b11"


def fold(*facts: OrderPlaced | OrderCancelled | CustomerNamed) -> CustomerSummary:
    summary, orders = CustomerSummary(ADA), dict[str, OrderTotal]()
    for fact in facts:
        order = None if isinstance(fact, CustomerNamed) else orders.get(fact.order_id)
        summary, record = apply(summary, order, fact)
        if record is not None:
            orders[record.order_id] = record
    return summary


def test_placed_orders_add_up_per_currency_and_the_latest_time_wins() -> None:
    summary = fold(
        OrderPlaced("o-1", ADA, "EUR", 1250, T0 + timedelta(minutes=5)),
        OrderPlaced("o-2", ADA, "USD", 999, T0),
        OrderPlaced("o-3", ADA, "EUR", 500, T0 + timedelta(minutes=1)),
    )
    assert (summary.orders_placed, summary.orders_cancelled) == (3, 0)
    assert summary.spent == {"EUR": 1750, "USD": 999}
    assert summary.last_order_time == T0 + timedelta(minutes=5)


def test_a_cancellation_takes_the_order_back_once() -> None:
    placed = OrderPlaced("o-1", ADA, "EUR", 1250, T0)
    summary = fold(placed, OrderCancelled("o-1", ADA), OrderCancelled("o-1", ADA))
    assert (summary.orders_placed, summary.orders_cancelled) == (1, 1)
    assert summary.spent == {"EUR": 0}


def test_a_cancellation_seen_before_its_placement_ends_in_the_same_model() -> None:
    placed, cancelled = OrderPlaced("o-1", ADA, "EUR", 1250, T0), OrderCancelled("o-1", ADA)
    in_order = fold(placed, cancelled)
    reversed_ = fold(cancelled, placed)
    assert (reversed_.orders_placed, reversed_.orders_cancelled) == (1, 1)
    assert reversed_.spent.get("EUR", 0) == in_order.spent["EUR"] == 0


def test_a_placement_seen_twice_counts_once_and_names_follow_the_latest_event() -> None:
    placed = OrderPlaced("o-1", ADA, "EUR", 100, T0)
    summary = fold(CustomerNamed(ADA, "Ada"), placed, placed, CustomerNamed(ADA, "Ada L."))
    assert (summary.display_name, summary.orders_placed, summary.spent) == (
        "Ada L.",
        1,
        {"EUR": 100},
    )
