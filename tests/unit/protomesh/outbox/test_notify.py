"""The relay's wake-up is a hint: a NOTIFY that fails never fails the committed change."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from protomesh.outbox import notify_relay


class BrokenConnection:
    """A connection left mid-operation by a PostgreSQL that went away (seen under chaos)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def is_in_transaction(self) -> bool:
        return False

    async def execute(self, *args: Any) -> str:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError("reset by peer"),
    ],
)
async def test_a_failed_notify_is_logged_not_raised(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    await notify_relay(BrokenConnection(error))  # type: ignore[arg-type]
    assert "could not wake the outbox relay" in caplog.text
