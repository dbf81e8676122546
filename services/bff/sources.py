"""The BFF's sources, read through the two cache tiers, and the keys events evict.

Every key holds the customer (the token's subject), so one customer's entry
can never answer another's screen; the parts are encoded (base64url) to fit
the KV bucket's key alphabet whatever a subject looks like:

    profile.<user>            the user service's GetUser
    orders.<customer>         the newest orders and the count (ListOrders pages)
    order.<customer>.<order>  one order (GetOrder for that customer)

`budget` is each call's share of the request's time; the cache's own work
(tier 2 is bounded by its own short timeout) comes out of the same share.
"""

from __future__ import annotations

import base64

from protomesh.cache import SharedTier, TieredCache
from services.bff import cache_codecs
from services.bff.backends import OrderBackend, UserBackend
from services.bff.domain import OrderDetail, OrderHistory, Profile


def _part(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def profile_key(user_id: str) -> str:
    return f"profile.{_part(user_id)}"


def history_key(customer_id: str) -> str:
    return f"orders.{_part(customer_id)}"


def order_key(customer_id: str, order_id: str) -> str:
    return f"order.{_part(customer_id)}.{_part(order_id)}"


class CachedSources:
    """What the handlers read (`handlers.Sources`), with the caches the event listener evicts."""

    def __init__(
        self,
        users: UserBackend,
        orders: OrderBackend,
        *,
        shared: SharedTier,
        maxsize: int,
        ttl: float,
    ) -> None:
        self._users = users
        self._orders = orders
        self.profiles = TieredCache(
            "profile", codec=cache_codecs.PROFILE, maxsize=maxsize, ttl=ttl, shared=shared
        )
        self.histories = TieredCache(
            "orders", codec=cache_codecs.HISTORY, maxsize=maxsize, ttl=ttl, shared=shared
        )
        self.order_pages = TieredCache(
            "order", codec=cache_codecs.ORDER, maxsize=maxsize, ttl=ttl, shared=shared
        )

    async def profile(self, user_id: str, budget: float) -> Profile:
        return await self.profiles.get_or_load(
            profile_key(user_id), lambda: self._users.profile(user_id, budget)
        )

    async def history(self, customer_id: str, budget: float) -> OrderHistory:
        return await self.histories.get_or_load(
            history_key(customer_id), lambda: self._orders.history(customer_id, budget)
        )

    async def order(self, customer_id: str, order_id: str, budget: float) -> OrderDetail:
        return await self.order_pages.get_or_load(
            order_key(customer_id, order_id),
            lambda: self._orders.order(order_id, customer_id, budget),
        )

    async def profile_changed(self, user_id: str) -> None:
        await self.profiles.evict(profile_key(user_id))

    async def orders_changed(self, customer_id: str, order_id: str) -> None:
        await self.histories.evict(history_key(customer_id))
        await self.order_pages.evict(order_key(customer_id, order_id))
