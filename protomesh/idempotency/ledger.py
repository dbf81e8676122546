"""The idempotency keys table, in the service's own schema, and the SQL over it.

`claim` and `record` run inside the caller's transaction, the one that makes
the effect; that is what makes "done once" hold across crashes: either the
effect and the key both commit, or neither does and a retry starts afresh.
Failed calls leave no key behind, so a client may retry them with the same key.
"""

from __future__ import annotations

import asyncpg

from protomesh.idempotency.calls import IdempotentCall, KeyReused

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
TABLE = "idempotency_keys"
_INSTALL_LOCK = "protomesh.idempotency.install"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    caller       text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX IF NOT EXISTS {TABLE}_expires_at ON {TABLE} (expires_at);
"""

# Insert the key; an expired row with the same key is taken over as if new.
# A live row makes the WHERE false, so nothing is returned and the row stays.
# A concurrent insert of the same key waits here until the first transaction ends.
_CLAIM = f"""
INSERT INTO {TABLE} AS k (caller, key, method, request_hash, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
ON CONFLICT (caller, key) DO UPDATE
    SET method = EXCLUDED.method, request_hash = EXCLUDED.request_hash, response = NULL,
        created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= now()
RETURNING true
"""
_READ = f"SELECT method, request_hash, response FROM {TABLE} WHERE caller = $1 AND key = $2"
_LIVE = _READ + " AND expires_at > now()"


async def install_idempotency(connection: Connection) -> None:
    """Create the keys table in the connection's schema (its search_path); idempotent."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _INSTALL_LOCK)
        await connection.execute(_DDL)


def _replay(call: IdempotentCall, row: asyncpg.Record) -> bytes | None:
    if row["method"] != call.method or row["request_hash"] != call.request_hash:
        raise KeyReused(call, row["method"])
    response: bytes | None = row["response"]
    return response


async def claim(connection: Connection, call: IdempotentCall, *, retention: float) -> bytes | None:
    """In a transaction: None if this call owns the key now (do the effect, then `record`);
    else the first call's response. Raises KeyReused for a different request.
    """
    for _ in range(3):  # the row may be swept between the two statements; claim again
        owned = await connection.fetchval(
            _CLAIM, call.caller, call.key, call.method, call.request_hash, retention
        )
        if owned:
            return None
        row = await connection.fetchrow(_READ, call.caller, call.key)
        if row is not None:
            response = _replay(call, row)
            if response is None:
                raise RuntimeError("an idempotency key committed without its response")
            return response
    raise RuntimeError(f"idempotency key {call.key!r} could not be claimed")


async def record(connection: Connection, call: IdempotentCall, response: bytes) -> None:
    """In the claiming transaction: store the response a repeat will get."""
    await connection.execute(
        f"UPDATE {TABLE} SET response = $3 WHERE caller = $1 AND key = $2",
        call.caller,
        call.key,
        response,
    )


async def stored_response(
    connection: Connection | asyncpg.Pool, call: IdempotentCall
) -> bytes | None:
    """A cheap look before any work: the stored response of a finished call, if any.

    Lets a repeat skip work done before the transaction (calls to other
    services); `claim` remains the authority.
    """
    row = await connection.fetchrow(_LIVE, call.caller, call.key)
    return None if row is None else _replay(call, row)
