"""The end user the edge authenticated, as a service sees it.

Envoy's jwt_authn verifies the caller's token and forwards its `sub` claim as
the `x-jwt-sub` header, which arrives as gRPC metadata; it strips any copy a
client sent, so the value is the edge's word, not the client's. The header is
believed only from a caller whose certificate says it is the edge (or another
identity the service's `end_user_from` names): the authorization interceptor
checks the TLS peer and sets the subject for the call, and ignores a header
any other caller sends. So a service may authorize by it:

    def GetOrder(self, request, context):
        order = await handlers.get_order(...)
        edge_auth.require_end_user(context, owner=order.customer_id)

The subject lives in a context variable of the call's own task, so it cannot
leak from one request into another.
"""

from __future__ import annotations

from typing import Any

import grpc

from protomesh import request_context
from protomesh.errors import PermissionDenied, Unauthenticated

SUBJECT_METADATA = "x-jwt-sub"
# Metadata that says who is calling: sent twice, the call is refused (UNAUTHENTICATED).
IDENTITY_METADATA = frozenset({SUBJECT_METADATA})


def end_user(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The verified subject of the call, or None for an anonymous (or internal) caller.

    `context` is the call's; the subject itself was vetted and recorded for it
    by the authorization interceptor.
    """
    del context
    return request_context.end_user.get()


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
