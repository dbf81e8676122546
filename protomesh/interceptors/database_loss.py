"""Which exceptions mean "PostgreSQL cannot be reached right now", as opposed to a bug.

While PostgreSQL restarts (a crash, a kill -9, a failover) a query fails with
a refused or reset connection, a connection the server closed, or the server
saying it is starting up or shutting down. None of these is the caller's
fault nor a defect of ours: the call is answered UNAVAILABLE with RetryInfo,
which the edge retries for idempotent methods and which tells every other
client to retry (writes with the same Idempotency-Key), instead of INTERNAL.
"""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions

from protomesh import errors

RETRY_AFTER = 1.0  # PostgreSQL restarts in a few seconds under the local supervisor
_CLOSED = "connection is closed"  # asyncpg's InterfaceError on a connection the server dropped


def database_unavailable(error: BaseException) -> errors.Unavailable | None:
    """The Unavailable to answer for `error`, or None when it is not a lost database."""
    lost = isinstance(
        error,
        ConnectionError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError,
    ) or (isinstance(error, asyncpg.InterfaceError) and _CLOSED in str(error))
    if not lost:
        return None
    return errors.Unavailable("the database is unreachable; retry", retry_after=RETRY_AFTER)
