"""What identifies one idempotent call, with no I/O: handlers may import this freely."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import Message

from protomesh.errors import FailedPrecondition

KEY_METADATA = "idempotency-key"
# The caller of a call that carries neither an end user nor a peer identity:
# only with TLS off (PROTOMESH_INSECURE=1); over mTLS it is `svc:<name>`.
INTERNAL_CALLER = "internal"


@dataclass(frozen=True)
class IdempotentCall:
    """A mutating call that brought an idempotency key.

    Keys are scoped by caller: two users who happen to pick the same key never
    see each other's responses.
    """

    key: str
    caller: str
    method: str  # the full gRPC method, /pkg.Service/Method
    request_hash: bytes


@dataclass(frozen=True)
class Replayed:
    """The serialized response of the first call with this key; nothing was done again."""

    response: bytes


class KeyReused(FailedPrecondition):
    """The key was spent on a different request: a client bug, never retried as-is."""

    def __init__(self, call: IdempotentCall, first_method: str) -> None:
        what = "a different request" if first_method == call.method else f"{first_method}"
        super().__init__(
            f"idempotency key {call.key!r} was already used for {what};"
            " send a new key for a new request",
            subject=KEY_METADATA,
            kind="IDEMPOTENCY_KEY_REUSED",
        )


def request_hash(request: Message) -> bytes:
    """SHA-256 of the request's deterministic wire form: equal requests, equal hashes."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
