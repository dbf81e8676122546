"""Idempotent mutating RPCs: one effect per idempotency key, whatever the retries.

A client sends gRPC metadata `idempotency-key` (at the edge, the HTTP header
`Idempotency-Key`). The service records the key, the caller, the method, a
hash of the request and the serialized response in the *same transaction* as
the effect, so "the effect happened" and "the key is spent" commit together:

    call = idempotent_call(context, request)          # None without a key
    async with connection.transaction():
        stored = await claim(connection, call, retention=86400)
        if stored is not None:
            return Response.FromString(stored)        # a repeat: no second effect
        ...                                           # the effect
        await record(connection, call, response.SerializeToString())

A concurrent duplicate blocks on the key's row until the first commits, then
reads its response. The same key with another request is refused with
FAILED_PRECONDITION (`KeyReused`). Keys expire after a retention and
`ExpiredKeySweeper` deletes them in bounded batches. `install_idempotency`
creates the table in the connection's schema (call it from the composition
root after the service's migrations).
"""

from __future__ import annotations

from protomesh.idempotency.calls import (
    INTERNAL_CALLER,
    KEY_METADATA,
    IdempotentCall,
    KeyReused,
    Replayed,
    request_hash,
)
from protomesh.idempotency.ledger import claim, install_idempotency, record, stored_response
from protomesh.idempotency.metadata import caller_of, idempotent_call
from protomesh.idempotency.sweeper import ExpiredKeySweeper

__all__ = [
    "INTERNAL_CALLER",
    "KEY_METADATA",
    "ExpiredKeySweeper",
    "IdempotentCall",
    "KeyReused",
    "Replayed",
    "caller_of",
    "claim",
    "idempotent_call",
    "install_idempotency",
    "record",
    "request_hash",
    "stored_response",
]
