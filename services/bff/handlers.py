"""The screens, composed: each source asked in parallel, each within its own budget.

The request's budget (what its deadline leaves, `request_context`) is carved
up: each source gets `min(its timeout, what is left - reserve)`, where the
reserve is the time kept back to compose and answer. A source that fails or
runs out of time is a `Degraded` part when the screen can live without it
(the order history on the dashboard, the display name on an order page),
and fails the call when it cannot (the profile on the dashboard, the order
on its page): UNAVAILABLE with RetryInfo. Nothing degraded is cached: the
cache stores only what a source answered (`protomesh.cache`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from protomesh import request_context
from protomesh.errors import NotFound, Unavailable
from services.bff.domain import (
    MAX_RECENT_ORDERS,
    Dashboard,
    Degraded,
    NoSuchCustomer,
    OrderDetail,
    OrderHistory,
    OrderPage,
    Profile,
    SourceFailed,
    degraded_history,
    recent_orders_to_show,
)

Result = TypeVar("Result")


class Sources(Protocol):
    async def profile(self, user_id: str, budget: float) -> Profile: ...

    async def history(self, customer_id: str, budget: float) -> OrderHistory: ...

    async def order(self, customer_id: str, order_id: str, budget: float) -> OrderDetail: ...


@dataclass(frozen=True)
class Budgets:
    """Seconds each source may take at most, and the time kept back to answer."""

    profile: float = 0.8
    orders: float = 0.8
    reserve: float = 0.05
    retry_after: float = 1.0  # what RetryInfo tells a client when an essential part is missing

    def of(self, timeout: float) -> float:
        left = request_context.time_remaining(timeout + self.reserve) - self.reserve
        return max(0.001, min(timeout, left))


async def _within(budget: float, source: str, work: Awaitable[Result]) -> Result:
    """`work`, or SourceFailed when it has not finished after `budget` seconds."""
    try:
        return await asyncio.wait_for(work, budget)
    except TimeoutError:
        raise SourceFailed(source, f"did not answer within {budget * 1000:.0f} ms") from None


def _essential(failure: SourceFailed, budgets: Budgets) -> Unavailable:
    return Unavailable(f"{failure.message}; retry shortly", retry_after=budgets.retry_after)


async def get_dashboard(
    subject: str, recent_orders: int, *, sources: Sources, budgets: Budgets
) -> Dashboard:
    profile_budget, orders_budget = budgets.of(budgets.profile), budgets.of(budgets.orders)
    profile_call = _within(profile_budget, "user", sources.profile(subject, profile_budget))
    history_call = _within(orders_budget, "order", sources.history(subject, orders_budget))
    profile, history = await asyncio.gather(profile_call, history_call, return_exceptions=True)
    if isinstance(profile, SourceFailed):
        raise _essential(profile, budgets)
    if isinstance(profile, NotFound):
        raise NoSuchCustomer(subject) from None
    if isinstance(profile, BaseException):
        raise profile
    shown = min(recent_orders_to_show(recent_orders), MAX_RECENT_ORDERS)
    if isinstance(history, SourceFailed):
        return Dashboard(profile, (), 0, False, degraded_history(history.message))
    if isinstance(history, BaseException):
        raise history
    return Dashboard(profile, history.recent[:shown], history.count, history.capped, ())


async def get_order_page(
    subject: str, order_id: str, *, sources: Sources, budgets: Budgets
) -> OrderPage:
    order_budget, profile_budget = budgets.of(budgets.orders), budgets.of(budgets.profile)
    order_call = _within(order_budget, "order", sources.order(subject, order_id, order_budget))
    profile_call = _within(profile_budget, "user", sources.profile(subject, profile_budget))
    order, profile = await asyncio.gather(order_call, profile_call, return_exceptions=True)
    if isinstance(order, SourceFailed):
        raise _essential(order, budgets)
    if isinstance(order, BaseException):
        raise order  # NotFound: missing, or another customer's (the order service said so)
    if isinstance(profile, SourceFailed):
        return OrderPage(order, "", (Degraded("display_name", profile.message),))
    if isinstance(profile, NotFound):
        return OrderPage(order, "", (Degraded("display_name", "no profile for this user"),))
    if isinstance(profile, BaseException):
        raise profile
    return OrderPage(order, profile.display_name, ())
