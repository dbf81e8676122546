"""Idempotent mutating RPCs: one effect per idempotency key, whatever the retries.

A client sends gRPC metadata `idempotency-key` (at the edge, the HTTP header
`Idempotency-Key`). The service records the key, the caller, the method, a
hash of the request and the serialized response in the *same transaction* as
the effect, so "the effect happened" and "the key is spent" commit together.

A service does not call the ledger itself: its servicer wraps the use case in
`answer_once`, which builds an `IdempotentReply` (the call and how to
serialize its response) for the unit of work (`protomesh.db.unit_of_work`).
The unit claims the key when it begins and records the reply when it
commits; a repeat raises `AlreadyAnswered` on entering and `answer_once`
sends the stored bytes:

    return await answer_once(
        context, request, _placed, v1.PlaceOrderResponse,
        lambda reply: handlers.place_order(command, uow=self._units(reply), ...),
    )

A concurrent duplicate blocks on the key's row until the first commits, then
reads its response. The same key with another request is refused with
FAILED_PRECONDITION (`KeyReused`). Keys expire after a retention and the
service's pruner (`protomesh.pruning`) deletes them. `install_idempotency`
creates the table in the connection's schema (call it from the composition
root after the service's migrations).
"""

from __future__ import annotations

from protomesh.idempotency.calls import (
    INTERNAL_CALLER,
    KEY_METADATA,
    AlreadyAnswered,
    IdempotentCall,
    IdempotentReply,
    KeyReused,
    request_hash,
)
from protomesh.idempotency.ledger import claim, install_idempotency, record, stored_response
from protomesh.idempotency.metadata import caller_of, idempotent_call
from protomesh.idempotency.replies import answer_once, idempotent_reply

__all__ = [
    "INTERNAL_CALLER",
    "KEY_METADATA",
    "AlreadyAnswered",
    "IdempotentCall",
    "IdempotentReply",
    "KeyReused",
    "answer_once",
    "caller_of",
    "claim",
    "idempotent_call",
    "idempotent_reply",
    "install_idempotency",
    "record",
    "request_hash",
    "stored_response",
]
