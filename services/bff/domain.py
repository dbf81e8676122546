"""What the web app's screens are made of, and how much of each part a screen shows.

The BFF holds no business rules: the values here are copies of what the
user and order services answered, shaped for a screen. Pure: the standard
library and protomesh.errors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from protomesh.errors import DomainError, NotFound

DEFAULT_RECENT_ORDERS = 5
MAX_RECENT_ORDERS = 20
ORDER_PAGE_SIZE = 100  # the order service's largest page
MAX_COUNTED_ORDERS = 1000  # the dashboard counts this many, then says "1000+"


class SourceFailed(DomainError):
    """A backend did not answer (down, too slow, overloaded, failing)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"the {source} service {reason}")
        self.source = source
        self.reason = reason


class NoSuchCustomer(NotFound):
    """The token is valid, but its subject is no user (deleted, or never signed up)."""

    def __init__(self, subject: str) -> None:
        super().__init__("user", subject)
        self.message = f"no user {subject!r} (the token's subject): sign up, or sign in again"
        self.args = (self.message,)


@dataclass(frozen=True)
class Money:
    currency_code: str
    amount_minor: int


@dataclass(frozen=True)
class Profile:
    user_id: str
    email: str
    display_name: str


@dataclass(frozen=True)
class OrderSummary:
    order_id: str
    status: str
    total: Money
    item_count: int
    created_at: datetime


@dataclass(frozen=True)
class OrderHistory:
    """A customer's newest orders (up to MAX_RECENT_ORDERS) and how many they have."""

    recent: tuple[OrderSummary, ...]
    count: int
    capped: bool  # more than MAX_COUNTED_ORDERS: `count` is a lower bound


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Money


@dataclass(frozen=True)
class OrderDetail:
    order_id: str
    customer_id: str
    status: str
    lines: tuple[OrderLine, ...]
    total: Money
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Degraded:
    """A part of a screen left out, and why (shown to the web app)."""

    part: str
    reason: str


@dataclass(frozen=True)
class Dashboard:
    profile: Profile
    recent: tuple[OrderSummary, ...]
    order_count: int
    order_count_capped: bool
    degraded: tuple[Degraded, ...]


@dataclass(frozen=True)
class OrderPage:
    order: OrderDetail
    display_name: str
    degraded: tuple[Degraded, ...]


def recent_orders_to_show(asked: int) -> int:
    """0 (unset) means the default; the validator keeps `asked` within 0..MAX_RECENT_ORDERS."""
    return asked or DEFAULT_RECENT_ORDERS


def degraded_history(reason: str) -> tuple[Degraded, ...]:
    """What a dashboard says when the order history could not be had."""
    return (Degraded("recent_orders", reason), Degraded("order_count", reason))
