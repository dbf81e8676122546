"""Turn a JetStream message into a typed event, or say exactly why it cannot be.

Events travel as serialized protobuf with CloudEvents binary-mode headers
(`protomesh.bus.cloudevents`): `ce-id`/`Nats-Msg-Id` (the event id), `ce-type`
(the full proto name, e.g. `shop.order.events.v1.OrderPlaced`), `ce-source`,
`ce-time`, `ce-dataschema`, `schema-version` and `traceparent`. A consumer
knows a fixed set of event classes (`EventTypes`); anything else — an unknown
type, a major version it was not written for, bytes that do not parse — is
`Undecodable`, which the consumer parks in the dead-letter stream instead of
crashing (pattern 11).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message

from protomesh.bus.cloudevents import (
    CE_ID,
    CE_SOURCE,
    CE_TIME,
    CE_TYPE,
    MSG_ID,
    SCHEMA_VERSION,
)
from protomesh.telemetry.propagation import TRACEPARENT

# The proto package's version suffix is the event's major schema version:
# shop.order.events.v1.OrderPlaced is major 1.
_PACKAGE_VERSION = re.compile(r"\.v(?P<major>\d+)\.[^.]+$")
_VERSION = re.compile(r"v?(?P<major>\d+)(\.\d+)*")


class Undecodable(Exception):
    """The message is not an event this consumer can ever handle; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedEvent:
    """One event as a handler sees it: the typed message plus its envelope."""

    id: str
    type: str
    schema_version: str
    subject: str
    message: Message
    source: str = ""
    time: str = ""
    traceparent: str | None = None
    delivery: int = 1
    stream_sequence: int = 0  # the message's position in its stream (0: not from a stream)


def major_version(text: str) -> int:
    """`"1"`, `"1.2"` and `"v1"` are all major 1; anything else is Undecodable."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise Undecodable(f"schema version {text!r} is not a version")
    return int(match["major"])


class EventTypes:
    """The event classes one consumer understands, keyed by full proto name.

    >>> from shop.order.events.v1 import events_pb2
    >>> EventTypes([events_pb2.OrderPlaced]).names()
    ['shop.order.events.v1.OrderPlaced']
    """

    def __init__(self, classes: Iterable[type[Message]]) -> None:
        self._classes: dict[str, type[Message]] = {}
        self._majors: dict[str, int] = {}
        for cls in classes:
            name = cls.DESCRIPTOR.full_name
            match = _PACKAGE_VERSION.search(name)
            if match is None:
                raise ValueError(f"{name}: event packages end in a version (….v1.{name})")
            self._classes[name] = cls
            self._majors[name] = int(match["major"])

    def names(self) -> list[str]:
        return sorted(self._classes)

    def decode(
        self,
        subject: str,
        headers: Mapping[str, str] | None,
        data: bytes,
        delivery: int = 1,
        stream_sequence: int = 0,
    ) -> DecodedEvent:
        headers = headers or {}
        event_type = headers.get(CE_TYPE, "")
        event_id = headers.get(CE_ID) or headers.get(MSG_ID, "")
        if not event_id:
            raise Undecodable("no event id (ce-id / Nats-Msg-Id header)")
        cls = self._classes.get(event_type)
        if cls is None:
            raise Undecodable(f"unknown event type {event_type!r}")
        version = headers.get(SCHEMA_VERSION, "")
        major = major_version(version)
        if major != self._majors[event_type]:
            raise Undecodable(
                f"unknown major schema version {major} of {event_type}"
                f" (this consumer reads {self._majors[event_type]})"
            )
        message = cls()
        try:
            message.ParseFromString(data)
        except DecodeError as error:
            raise Undecodable(f"payload is not a valid {event_type}: {error}") from None
        return DecodedEvent(
            id=event_id,
            type=event_type,
            schema_version=version,
            subject=subject,
            message=message,
            source=headers.get(CE_SOURCE, ""),
            time=headers.get(CE_TIME, ""),
            traceparent=headers.get(TRACEPARENT),
            delivery=delivery,
            stream_sequence=stream_sequence,
        )
