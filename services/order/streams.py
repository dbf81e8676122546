"""The JetStream streams the order context publishes to and reads from."""

from __future__ import annotations

from protomesh.bus.streams import events_stream
from protomesh.cdc.naming import changes_stream

ORDER_EVENTS = events_stream("order")  # OrderPlaced, OrderCancelled (our outbox)
USER_EVENTS = events_stream("user")  # read by the customer copy's consumer
# Row changes of our tables, published by the order-cdc worker from the WAL
# (docs/cdc.md); a consumer declares it by this spec. Not written by this service.
ORDER_CHANGES = changes_stream("order")
