"""The JetStream streams the reporting context reads (it publishes none)."""

from __future__ import annotations

from protomesh.bus.streams import events_stream

ORDER_EVENTS = events_stream("order")  # OrderPlaced, OrderCancelled
USER_EVENTS = events_stream("user")  # UserRegistered, UserProfileChanged
