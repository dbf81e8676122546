"""The JetStream streams the user context publishes to and reads from."""

from __future__ import annotations

from protomesh.bus.streams import events_stream

USER_EVENTS = events_stream("user")  # UserRegistered, UserProfileChanged (our outbox)
ORDER_EVENTS = events_stream("order")  # read by the order-count consumer
