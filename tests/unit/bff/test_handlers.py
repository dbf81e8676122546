"""The screens' composition with fake sources: which part degrades, which fails the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from protomesh.errors import NotFound, Unavailable
from services.bff import handlers
from services.bff.domain import (
    Money,
    OrderDetail,
    OrderHistory,
    OrderSummary,
    Profile,
    SourceFailed,
)
from services.bff.handlers import Budgets

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BUDGETS = Budgets(profile=0.2, orders=0.2, reserve=0.01)


def summary(number: int) -> OrderSummary:
    return OrderSummary(f"o{number}", "PENDING", Money("EUR", 100 * number), number, NOW)


class FakeSources:
    def __init__(self) -> None:
        self.profile_error: Exception | None = None
        self.history_error: Exception | None = None
        self.history_delay = 0.0
        self.order_error: Exception | None = None

    async def profile(self, user_id: str, budget: float) -> Profile:
        if self.profile_error:
            raise self.profile_error
        return Profile(user_id, "ada@example.com", "Ada")

    async def history(self, customer_id: str, budget: float) -> OrderHistory:
        await asyncio.sleep(self.history_delay)
        if self.history_error:
            raise self.history_error
        return OrderHistory(tuple(summary(n) for n in range(8, 0, -1)), 8, False)

    async def order(self, customer_id: str, order_id: str, budget: float) -> OrderDetail:
        if self.order_error:
            raise self.order_error
        return OrderDetail(order_id, customer_id, "PENDING", (), Money("EUR", 0), NOW, NOW)


async def test_a_full_dashboard_shows_the_asked_number_of_recent_orders() -> None:
    dashboard = await handlers.get_dashboard("u1", 3, sources=FakeSources(), budgets=BUDGETS)
    assert [o.order_id for o in dashboard.recent] == ["o8", "o7", "o6"]
    assert (dashboard.order_count, dashboard.degraded) == (8, ())
    default = await handlers.get_dashboard("u1", 0, sources=FakeSources(), budgets=BUDGETS)
    assert len(default.recent) == 5


async def test_a_slow_history_is_cut_at_its_budget_and_named_as_degraded() -> None:
    sources = FakeSources()
    sources.history_delay = 5.0
    dashboard = await handlers.get_dashboard("u1", 0, sources=sources, budgets=BUDGETS)
    assert dashboard.profile.display_name == "Ada"
    assert [part.part for part in dashboard.degraded] == ["recent_orders", "order_count"]
    assert "the order service did not answer within 200 ms" in dashboard.degraded[0].reason


async def test_a_missing_profile_fails_the_dashboard() -> None:
    sources = FakeSources()
    sources.profile_error = SourceFailed("user", "did not answer (UNAVAILABLE)")
    with pytest.raises(Unavailable) as unavailable:
        await handlers.get_dashboard("u1", 0, sources=sources, budgets=BUDGETS)
    assert unavailable.value.retry_after == 1.0
    sources.profile_error = NotFound("user", "u1")
    with pytest.raises(NotFound, match="the token's subject"):
        await handlers.get_dashboard("u1", 0, sources=sources, budgets=BUDGETS)


async def test_an_order_page_without_the_profile_degrades_only_the_display_name() -> None:
    sources = FakeSources()
    sources.profile_error = SourceFailed("user", "did not answer (UNAVAILABLE)")
    page = await handlers.get_order_page("u1", "o1", sources=sources, budgets=BUDGETS)
    assert (page.order.order_id, page.display_name) == ("o1", "")
    assert [part.part for part in page.degraded] == ["display_name"]
    sources.order_error = NotFound("order", "o1")
    with pytest.raises(NotFound):
        await handlers.get_order_page("u1", "o1", sources=sources, budgets=BUDGETS)
