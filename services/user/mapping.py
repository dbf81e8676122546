"""Domain users ↔ the v1 and v2 wire shapes. The only place that knows both.

`private=False` gives the public profile: the user as anyone but themself
(or an admin) may see them, without the email and its verification.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2
from shop.user.v1 import user_pb2 as v1
from shop.user.v2 import user_pb2 as v2

from services.user.domain import User

_VERIFICATION_FILTER: dict[v2.EmailVerification.ValueType, bool | None] = {
    v2.EMAIL_VERIFICATION_UNSPECIFIED: None,
    v2.EMAIL_VERIFICATION_UNVERIFIED: False,
    v2.EMAIL_VERIFICATION_VERIFIED: True,
}


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def user_id(text: str) -> uuid.UUID:
    """Validated by the interceptor already; parsing here cannot fail."""
    return uuid.UUID(text)


def to_v1(user: User, *, private: bool = True) -> v1.User:
    return v1.User(
        user_id=str(user.id),
        email=user.email if private else "",
        display_name=user.display_name,
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
    )


def to_v2(user: User, *, private: bool = True) -> v2.User:
    if not private:
        verification = v2.EMAIL_VERIFICATION_UNSPECIFIED
    elif user.email_verified:
        verification = v2.EMAIL_VERIFICATION_VERIFIED
    else:
        verification = v2.EMAIL_VERIFICATION_UNVERIFIED
    return v2.User(
        user_id=str(user.id),
        email=user.email if private else "",
        name=v2.PersonName(given_name=user.given_name, family_name=user.family_name),
        display_name=user.display_name,
        email_verification=verification,
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
    )


def verification_filter(value: v2.EmailVerification.ValueType) -> bool | None:
    return _VERIFICATION_FILTER[value]
