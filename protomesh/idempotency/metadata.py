"""Read an idempotent call out of a gRPC call's metadata and peer."""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import edge_auth, request_context
from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.idempotency.calls import INTERNAL_CALLER, KEY_METADATA, IdempotentCall, request_hash

# Printable ASCII without spaces, like a UUID or a ULID; bounded so a key row stays small.
_KEY = re.compile(r"[\x21-\x7e]{1,128}")


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """Who a key belongs to: the edge's verified end user, else the calling service.

    `user:<sub>` when a trusted forwarder (the edge) sent a subject; `svc:<name>`
    for the mesh identity the authorization interceptor took from the peer's
    certificate; `internal` only with TLS off (PROTOMESH_INSECURE=1). Both
    come from that interceptor, so a key is never scoped by a header a
    caller could forge.
    """
    subject = edge_auth.end_user(context)
    if subject is not None:
        return f"user:{subject}"
    caller = request_context.caller.get()
    if caller is not None:
        return f"svc:{caller}"
    return INTERNAL_CALLER


def idempotent_call(
    context: grpc.aio.ServicerContext[Any, Any], request: Message, method: str | None = None
) -> IdempotentCall | None:
    """The call's key, caller, method and request hash; None when it brought no key.

    A malformed key is INVALID_ARGUMENT: silently ignoring it would turn a
    client's retries into duplicates.
    """
    keys = [v for k, v in context.invocation_metadata() or () if k == KEY_METADATA]
    if not keys:
        return None
    key = keys[0]
    if len(keys) > 1 or not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidArgument(
            [FieldViolation(KEY_METADATA, "one key of 1 to 128 printable ASCII characters")]
        )
    method = method or request_context.rpc_method.get() or ""
    return IdempotentCall(key, caller_of(context), method, request_hash(request))
