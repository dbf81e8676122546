"""The CloudEvents envelope every event carries on the bus, set in this one place.

Events travel in CloudEvents *binary mode* over NATS: the payload is the
serialized protobuf message, the context attributes are message headers.
Every producer goes through `envelope()` (the outbox relay's `OutgoingEvent`
builds its headers with it), and every consumer reads the same names
(`protomesh.bus.decoding`), so no producer can invent a header of its own.

- `ce-id`: the event id, also `Nats-Msg-Id` so JetStream drops a re-publish;
- `ce-type`: the full proto name, e.g. `shop.order.events.v1.OrderPlaced`;
- `ce-source`: the owning context, e.g. `/shop/order`;
- `ce-specversion`: `1.0`;
- `ce-time`: when the fact happened (RFC 3339);
- `ce-dataschema`: where the payload's schema is defined,
  `proto:shop/order/events/v1/events.proto#OrderPlaced` (`dataschema_for`);
- `ce-datacontenttype`: `application/protobuf`;
- `schema-version`: the major version (the package's `vN`), read by consumers
  to refuse a major they were not written for.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

MSG_ID = "Nats-Msg-Id"
CE_ID = "ce-id"
CE_TYPE = "ce-type"
CE_SOURCE = "ce-source"
CE_SPECVERSION = "ce-specversion"
CE_TIME = "ce-time"
CE_DATASCHEMA = "ce-dataschema"
CE_DATACONTENTTYPE = "ce-datacontenttype"
SCHEMA_VERSION = "schema-version"

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
# Every event package keeps its messages in one file of this name, so the
# schema of a type is found from its name alone (`protomesh events` checks it).
EVENTS_FILE = "events.proto"


def dataschema_for(event_type: str) -> str:
    """The schema reference of an event type: its proto file and message.

    >>> dataschema_for("shop.order.events.v1.OrderPlaced")
    'proto:shop/order/events/v1/events.proto#OrderPlaced'
    """
    package, _, name = event_type.rpartition(".")
    return f"proto:{package.replace('.', '/')}/{EVENTS_FILE}#{name}"


def envelope(
    *, event_id: str, event_type: str, schema_version: int, source: str, time: datetime
) -> dict[str, str]:
    """The binary-mode CloudEvents headers of one event."""
    return {
        MSG_ID: event_id,
        CE_ID: event_id,
        CE_SPECVERSION: SPEC_VERSION,
        CE_TYPE: event_type,
        CE_SOURCE: source,
        CE_TIME: time.isoformat(),
        CE_DATASCHEMA: _dataschema(event_type),
        CE_DATACONTENTTYPE: CONTENT_TYPE,
        SCHEMA_VERSION: str(schema_version),
    }


# Once per event in the relay's loop, for a handful of event types.
_dataschema = lru_cache(maxsize=256)(dataschema_for)
