"""What an event is called on the wire, derived from its protobuf full name.

`shop.order.events.v1.OrderPlaced` is published on the subject
`order.events.v1.OrderPlaced`, with type `shop.order.events.v1.OrderPlaced`
and schema version 1 (the package's `vN`). Streams capture
`<context>.events.>`, so the subject names the owning context first.
"""

from __future__ import annotations

import re

SUBJECT_ROOT = "shop"
_VERSION = re.compile(r"v(?P<major>[1-9][0-9]*)")


class EventNameError(ValueError):
    """A message whose name does not follow shop.<context>.events.v<N>.<Name>."""


def schema_version(full_name: str) -> int:
    """The major version from the package, e.g. 2 for `shop.user.events.v2.UserRegistered`."""
    for part in full_name.split(".")[:-1]:
        match = _VERSION.fullmatch(part)
        if match:
            return int(match["major"])
    raise EventNameError(f"{full_name}: the event's package has no vN version component")


def subject_for(full_name: str) -> str:
    """The NATS subject of an event type: its full name without the `shop.` root."""
    parts = full_name.split(".")
    if len(parts) < 5 or parts[0] != SUBJECT_ROOT or "events" not in parts[2:-2]:
        raise EventNameError(f"{full_name}: events live in shop.<context>.events.v<N> packages")
    schema_version(full_name)
    return ".".join(parts[1:])


def source_for(full_name: str) -> str:
    """The CloudEvents source of an event type: its owning context, e.g. `/shop/order`."""
    parts = full_name.split(".")
    return "/" + "/".join(parts[: parts.index("events")]) if "events" in parts else "/" + parts[0]
