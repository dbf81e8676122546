"""The user context's published facts, built from domain users (shop.user.events.v1)."""

from __future__ import annotations

from shop.user.events.v1 import events_pb2

from services.user.domain import User
from services.user.mapping import timestamp

AGGREGATE_TYPE = "user"


def user_registered(user: User) -> events_pb2.UserRegistered:
    return events_pb2.UserRegistered(
        user_id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        occur_time=timestamp(user.created_at),
    )


def user_profile_changed(user: User) -> events_pb2.UserProfileChanged:
    return events_pb2.UserProfileChanged(
        user_id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        email_verified=user.email_verified,
        occur_time=timestamp(user.updated_at),
    )
