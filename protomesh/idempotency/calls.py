"""What identifies one idempotent call, with no I/O: handlers may import this freely."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from protomesh.errors import FailedPrecondition

Result = TypeVar("Result")

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
class IdempotentReply(Generic[Result]):
    """An idempotent call, and how its transport serializes a use case's result.

    The transport builds it (it knows the wire form); the unit of work stores
    `encode(result)` with the key at commit, so the use case never sees bytes.
    """

    call: IdempotentCall
    encode: Callable[[Result], bytes]


class AlreadyAnswered(Exception):
    """The key was spent by an earlier call with this request: nothing was done again.

    Raised by a unit of work on entering; the transport catches it and sends
    `response`, the first call's serialized reply, byte for byte.
    """

    def __init__(self, response: bytes) -> None:
        super().__init__("this call was answered before")
        self.response = response


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
