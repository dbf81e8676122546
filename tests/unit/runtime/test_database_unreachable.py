"""A database that is restarting is a retryable UNAVAILABLE, never an INTERNAL error;
everything else stays what it was (a bug is still a bug)."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions
import pytest

from protomesh import errors
from protomesh.interceptors.database_loss import database_unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
        asyncpg.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ),
    ],
)
def test_a_lost_database_is_unavailable_with_a_retry_hint(error: Exception) -> None:
    unavailable = database_unavailable(error)

    assert isinstance(unavailable, errors.Unavailable)
    assert unavailable.retry_after == 1.0


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        FileNotFoundError("no such file"),
        ValueError("a bug"),
    ],
)
def test_other_errors_are_left_alone(error: Exception) -> None:
    assert database_unavailable(error) is None
