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
_PEER_ID = "peer_spiffe_id"


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """Who a key belongs to: the edge's verified end user, else the peer's identity.

    `user:<sub>` when the edge forwarded a subject; the peer's SPIFFE id when
    the call came over mTLS with one; `internal` otherwise. The one place that
    decides it, so stronger peer identities plug in here.
    """
    subject = edge_auth.end_user(context)
    if subject is not None:
        return f"user:{subject}"
    peer: Any = context.auth_context().get(_PEER_ID) or ()
    for value in peer:
        return bytes(value).decode("utf-8", "replace")
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
