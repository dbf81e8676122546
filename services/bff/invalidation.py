"""Evict cached screens when their source changes, on every replica (pattern 15).

`UserProfileChanged` evicts the user's profile; `OrderPlaced` and
`OrderCancelled` evict the customer's order history and that order's page,
in both tiers, so a change shows on the next screen instead of after the TTL.

Every replica must see every event, since each holds its own tier 1: so not a
durable consumer (whose messages are shared out among its subscribers) but
one *ordered* consumer per stream and replica, an ephemeral one JetStream
drops when the replica goes. It starts at new events (`DeliverPolicy.NEW`):
what changed before the replica started is not in its tier 1, and tier 2 was
evicted by the replicas that were running. An event a replica misses while
NATS is away is bounded by the TTL.

The worker also attaches the shared tier (the KV bucket) once NATS answers;
until then the cache runs on tier 1 alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.connection import connect_nats
from protomesh.bus.decoding import EventTypes, Undecodable
from protomesh.cache import KeyValueTier
from protomesh.tls.files import TlsFiles
from services.bff.sources import CachedSources

log = logging.getLogger("services.bff.invalidation")

USER_EVENTS = EventTypes([user_events.UserProfileChanged])
ORDER_EVENTS = EventTypes([order_events.OrderPlaced, order_events.OrderCancelled])
SUBSCRIPTIONS = (("user.events.>", USER_EVENTS), ("order.events.>", ORDER_EVENTS))


class CacheInvalidation:
    """A worker: connect to NATS, attach tier 2, follow the events that evict."""

    name = "bff cache invalidation"

    def __init__(
        self,
        nats_url: str,
        sources: CachedSources,
        shared: KeyValueTier,
        *,
        retry: float = 1.0,
        tls: TlsFiles | None = None,
    ) -> None:
        """`tls`: the service's certificate, for a tls:// NATS."""
        self._url = nats_url
        self._tls = tls
        self._sources = sources
        self._shared = shared
        self._retry = retry
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def listening(self) -> None:
        """A readiness probe: raises until every subscription is in place."""
        if not self._listening.is_set() or self._nc is None or not self._nc.is_connected:
            raise ConnectionError("not following the cache's events yet")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._shared.detach()
        self._listening.clear()
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._nc.close()
            self._nc = None

    async def _run(self) -> None:
        self._nc = nc = await connect_nats(self._url, name="bff-cache", tls=self._tls)
        await self._until_done("attach the shared cache tier", lambda: self._shared.attach(nc))
        for subject, types in SUBSCRIPTIONS:
            follow = functools.partial(self._follow, nc, subject, types)
            await self._until_done(f"follow {subject}", follow)
        self._listening.set()
        log.info("following the events that evict cached screens")

    async def _until_done(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await step()
            except Exception as error:  # NATS away, stream not declared yet: try again
                log.warning("cannot %s yet: %r", what, error)
                await asyncio.sleep(self._retry)
            else:
                return

    async def _follow(self, nc: NatsClient, subject: str, types: EventTypes) -> None:
        async def on_message(msg: Msg) -> None:
            await self._evict(msg, types)

        await nc.jetstream().subscribe(
            subject, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )

    async def _evict(self, msg: Msg, types: EventTypes) -> None:
        try:
            event = types.decode(msg.subject, msg.headers, msg.data)
        except Undecodable:
            return  # an event that changes nothing cached here (UserRegistered, ...)
        message = event.message
        try:
            if isinstance(message, user_events.UserProfileChanged):
                await self._sources.profile_changed(message.user_id)
            elif isinstance(message, order_events.OrderPlaced | order_events.OrderCancelled):
                await self._sources.orders_changed(message.customer_id, message.order_id)
        except Exception:  # never let one event stop the subscription
            log.exception("eviction failed", extra={"event_id": event.id})
            return
        log.debug("evicted for %s", event.type, extra={"event_id": event.id})
