"""The end user the edge authenticated, as a service sees it.

Envoy's jwt_authn verifies the caller's token and forwards its `sub` claim as
the `x-jwt-sub` header, which arrives as gRPC metadata; it strips any copy a
client sent, so the value is the edge's word, not the client's. Inside the
mesh only the edge and other services can reach a service (mTLS makes that
binding), so a service may trust the metadata and authorize by it:

    def GetOrder(self, request, context):
        order = await handlers.get_order(...)
        edge_auth.require_end_user(context, owner=order.customer_id)

The subject is read per call from the call's own metadata, so it cannot leak
from one request into another.
"""

from __future__ import annotations

from typing import Any

import grpc

from protomesh.errors import PermissionDenied, Unauthenticated

SUBJECT_METADATA = "x-jwt-sub"


def end_user(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The verified subject of the call, or None for an anonymous (or internal) caller."""
    for key, value in context.invocation_metadata() or ():
        if key == SUBJECT_METADATA and isinstance(value, str) and value:
            return value
    return None


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
