"""The user context's domain events in their published form (shop.user.events.v1)."""

from __future__ import annotations

from google.protobuf.message import Message
from shop.user.events.v1 import events_pb2

from services.user.domain import Event, UserProfileChanged, UserRegistered
from services.user.mapping import timestamp

AGGREGATE_TYPE = "user"


def to_event(event: Event) -> Message:
    match event:
        case UserRegistered():
            return events_pb2.UserRegistered(
                user_id=str(event.user_id),
                email=event.email,
                display_name=event.display_name,
                occur_time=timestamp(event.at),
            )
        case UserProfileChanged():
            return events_pb2.UserProfileChanged(
                user_id=str(event.user_id),
                email=event.email,
                display_name=event.display_name,
                email_verified=event.email_verified,
                occur_time=timestamp(event.at),
            )
