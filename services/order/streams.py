"""The JetStream streams the order context publishes to and reads from."""

from __future__ import annotations

from protomesh.bus.streams import events_stream

ORDER_EVENTS = events_stream("order")  # OrderPlaced, OrderCancelled (our outbox)
USER_EVENTS = events_stream("user")  # read by the customer copy's consumer
