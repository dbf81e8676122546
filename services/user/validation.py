"""The request constraints of shop.user.v1 and v2, enforced in one place.

Each rule below is the one written as "Constraints:" beside the field in the
.proto. Validators return every violation at once, so a client fixes a form
in one round trip. The runtime's ValidationInterceptor runs them before any
handler (protovalidate would declare these in the proto itself; see
docs/decisions.md for why it is not used).
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from shop.user.v1 import user_pb2 as v1
from shop.user.v2 import user_pb2 as v2

from protomesh.errors import FieldViolation
from protomesh.interceptors.validation import Validator
from services.user.domain import CODE_DIGITS

MAX_EMAIL = 254
MAX_NAME = 100
MAX_PAGE_SIZE = 100
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


def _email(value: str, field: str) -> list[FieldViolation]:
    value = value.strip()
    if not value:
        return [FieldViolation(field, "required")]
    if len(value) > MAX_EMAIL:
        return [FieldViolation(field, f"at most {MAX_EMAIL} characters")]
    if not _EMAIL.fullmatch(value):
        return [FieldViolation(field, "not an email address (local@domain)")]
    return []


def _name(value: str, field: str, *, required: bool) -> list[FieldViolation]:
    stripped = value.strip()
    if required and not stripped:
        return [FieldViolation(field, "required")]
    if len(stripped) > MAX_NAME:
        return [FieldViolation(field, f"at most {MAX_NAME} characters")]
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        return [FieldViolation(field, "must not contain control characters")]
    return []


def _uuid(value: str, field: str) -> list[FieldViolation]:
    if not value:
        return [FieldViolation(field, "required")]
    try:
        uuid.UUID(value)
    except ValueError:
        return [FieldViolation(field, "not a UUID")]
    return []


def _page_size(value: int) -> list[FieldViolation]:
    if not 0 <= value <= MAX_PAGE_SIZE:
        return [FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")]
    return []


def _person_name(name: v2.PersonName, field: str) -> list[FieldViolation]:
    return [
        *_name(name.given_name, f"{field}.given_name", required=True),
        *_name(name.family_name, f"{field}.family_name", required=False),
    ]


def create_user_v1(request: v1.CreateUserRequest) -> list[FieldViolation]:
    return [
        *_email(request.email, "email"),
        *_name(request.display_name, "display_name", required=True),
    ]


def update_user_v1(request: v1.UpdateUserRequest) -> list[FieldViolation]:
    violations = _uuid(request.user_id, "user_id")
    if request.HasField("email"):
        violations += _email(request.email, "email")
    if request.HasField("display_name"):
        violations += _name(request.display_name, "display_name", required=True)
    return violations


def create_user_v2(request: v2.CreateUserRequest) -> list[FieldViolation]:
    if not request.HasField("name"):
        return [*_email(request.email, "email"), FieldViolation("name", "required")]
    return [*_email(request.email, "email"), *_person_name(request.name, "name")]


def update_user_v2(request: v2.UpdateUserRequest) -> list[FieldViolation]:
    violations = _uuid(request.user_id, "user_id")
    if request.HasField("email"):
        violations += _email(request.email, "email")
    if request.HasField("name"):
        violations += _person_name(request.name, "name")
    return violations


def list_users_v2(request: v2.ListUsersRequest) -> list[FieldViolation]:
    violations = _page_size(request.page_size)
    if request.email_verification not in v2.EmailVerification.values():
        violations.append(
            FieldViolation("email_verification", f"unknown value {request.email_verification}")
        )
    return violations


def verify_email_v2(request: v2.VerifyEmailRequest) -> list[FieldViolation]:
    violations = _uuid(request.user_id, "user_id")
    if request.email:
        violations += _email(request.email, "email")
    if not _CODE.fullmatch(request.code):
        violations.append(FieldViolation("code", f"required; the {CODE_DIGITS} digits mailed"))
    return violations


VALIDATORS: dict[str, Validator] = {
    "/shop.user.v1.UserService/CreateUser": create_user_v1,
    "/shop.user.v1.UserService/GetUser": lambda r: _uuid(r.user_id, "user_id"),
    "/shop.user.v1.UserService/ListUsers": lambda r: _page_size(r.page_size),
    "/shop.user.v1.UserService/UpdateUser": update_user_v1,
    "/shop.user.v2.UserService/CreateUser": create_user_v2,
    "/shop.user.v2.UserService/GetUser": lambda r: _uuid(r.user_id, "user_id"),
    "/shop.user.v2.UserService/ListUsers": list_users_v2,
    "/shop.user.v2.UserService/UpdateUser": update_user_v2,
    "/shop.user.v2.UserService/SendEmailVerification": lambda r: _uuid(r.user_id, "user_id"),
    "/shop.user.v2.UserService/VerifyEmail": verify_email_v2,
}
