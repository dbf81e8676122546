"""The end user the edge authenticated, as a service sees it.

Envoy's jwt_authn verifies the caller's token and forwards its `sub` claim as
the `x-jwt-sub` header and its `roles` claim as `x-jwt-roles`, which arrive as
gRPC metadata; it strips any copy a client sent, so the values are the edge's
word, not the client's. They are believed only from a caller whose
certificate says it is the edge (or another identity the service's
`end_user_from` names): the authorization interceptor checks the TLS peer and
records them for the call, and ignores the headers any other caller sends. So
a service may authorize by them:

    def GetOrder(self, request, context):
        order = await handlers.get_order(...)
        edge_auth.require_end_user(context, owner=order.customer_id)

Route-level rules (mesh.yaml's `auth:`) are applied before the servicer runs,
by `protomesh.interceptors.end_user_policy`.

The values live in context variables of the call's own task, so they cannot
leak from one request into another.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import grpc

from protomesh import request_context
from protomesh.errors import PermissionDenied, Unauthenticated

SUBJECT_METADATA = "x-jwt-sub"
ROLES_METADATA = "x-jwt-roles"
ROLES_CLAIM = "roles"  # the token claim the edge forwards as ROLES_METADATA
ADMIN = "admin"
# Metadata that says who is calling: sent twice, the call is refused (UNAUTHENTICATED).
IDENTITY_METADATA = frozenset({SUBJECT_METADATA, ROLES_METADATA})


def end_user(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The verified subject of the call, or None for an anonymous (or internal) caller.

    `context` is the call's; the subject itself was vetted and recorded for it
    by the authorization interceptor.
    """
    del context
    return request_context.end_user.get()


def acts_for_end_user(context: grpc.aio.ServicerContext[Any, Any]) -> bool:
    """Whether the call comes through the edge for an end user (anonymous or not).

    False for a service-to-service call (order → user GetUser): that caller
    is trusted by its `callers` entry, not by an end user's rights.
    """
    del context
    return request_context.for_end_user.get()


def may_see_as_owner(context: grpc.aio.ServicerContext[Any, Any], owner: str) -> bool:
    """Whether the call may see what only `owner` (and admins) may: an internal
    call, the owner themself, or an end user with the admin role."""
    if not acts_for_end_user(context):
        return True
    return end_user(context) == owner or ADMIN in request_context.end_user_roles.get()


def require_end_user(
    context: grpc.aio.ServicerContext[Any, Any], *, owner: str | None = None
) -> str:
    """The call's end user; Unauthenticated without one, PermissionDenied if not `owner`."""
    subject = end_user(context)
    if subject is None:
        raise Unauthenticated("this call needs a signed-in user")
    if owner is not None and subject != owner:
        raise PermissionDenied("this resource belongs to another user")
    return subject


def parse_roles(value: str) -> frozenset[str]:
    """The roles in an `x-jwt-roles` value.

    Envoy 1.40's claim_to_headers copies a string claim as it is and an array
    claim as the base64 of its JSON (`["admin"]` → `WyJhZG1pbiJd`): both are
    read, so `roles: "admin"` and `roles: ["admin", "support"]` work alike.
    """
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return frozenset({value}) if value else frozenset()
    if isinstance(decoded, list):
        return frozenset(role for role in decoded if isinstance(role, str) and role)
    return frozenset({value})
