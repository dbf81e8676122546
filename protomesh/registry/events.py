"""Who publishes and who reads each event type: each service's `produces` and `consumes`.

    services:
      order:
        produces: [shop.order.events.v1.OrderPlaced, shop.order.events.v1.OrderCancelled]
        consumes: [shop.user.events.v1.UserRegistered]

An event type has exactly one producer (the context that owns the fact), and
a service may only read what some service produces: a consumer of a type
nobody publishes waits forever for nothing, which is a mistake to catch
before deployment, not in production. The outbox holds producers to their
word at run time (`protomesh.outbox.declared`); against the descriptor set,
every declared type must be a message of the contracts (`check_event_types`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from protomesh.registry.model import Mesh, Service
from protomesh.registry.reading import Reader, suggest


def check_event_flow(reader: Reader, services: Mapping[str, Service]) -> None:
    """One producer per event type, and a producer for every consumed type."""
    producers: dict[str, str] = {}
    for service in services.values():
        for index, event_type in enumerate(service.produces):
            other = producers.setdefault(event_type, service.name)
            if other != service.name:
                reader.fail(
                    f"{service.path}.produces[{index}]",
                    f"{event_type} is already produced by services.{other}; "
                    "an event type has one owner",
                )
    for service in services.values():
        for index, event_type in enumerate(service.consumes):
            if event_type not in producers:
                reader.fail(
                    f"{service.path}.consumes[{index}]",
                    f"no service produces {event_type}{suggest(event_type, producers)}",
                )


def check_event_types(mesh: Mesh, messages: Collection[str], source: str) -> list[str]:
    """Problems with declared event types the contracts (`messages`) do not define."""
    problems: list[str] = []
    for service in mesh.services.values():
        for key, declared in (("produces", service.produces), ("consumes", service.consumes)):
            for index, event_type in enumerate(declared):
                if event_type not in messages:
                    problems.append(
                        f"{service.path}.{key}[{index}]: {event_type} (no such message in {source})"
                    )
    return problems
