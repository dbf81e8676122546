"""The transactional outbox: events written with the state change, relayed to NATS.

Writers (inside the business transaction): `install_outbox`, `append_event`,
then `notify_relay` after the commit; `declare_produced` (at start, from
mesh.yaml) limits `append_event` to the types the service declares. The relay
(`OutboxRelay`) runs inside a service process as a Worker or on its own:
`python -m protomesh.outbox`.
"""

from __future__ import annotations

from protomesh.outbox.declared import UndeclaredEventType, declare_produced
from protomesh.outbox.relay import OutboxDatabase, OutboxRelay
from protomesh.outbox.schema import install_outbox
from protomesh.outbox.settings import RelaySettings
from protomesh.outbox.writer import NOTIFY_CHANNEL, append_event, notify_relay

__all__ = [
    "NOTIFY_CHANNEL",
    "OutboxDatabase",
    "OutboxRelay",
    "RelaySettings",
    "UndeclaredEventType",
    "append_event",
    "declare_produced",
    "install_outbox",
    "notify_relay",
]
