"""The fuzzers' leak check: what it flags in a reply, and what it lets through."""

from __future__ import annotations

import pytest

from tests.fuzz.leaks import leaks

LEAKING = [
    'Traceback (most recent call last):\n  File "/srv/app/handlers.py", line 12, in get',
    "Unexpected <class 'google.protobuf.message.DecodeError'>: Error parsing message",
    "KeyError: 'user_id'",
    "asyncpg.exceptions.UniqueViolationError: duplicate key",
    "failed in services/user/store.py",
    "/usr/lib/python3.11/asyncio/tasks.py",
]
CLEAN = [
    "invalid request: email",
    "malformed request: Wire format was corrupt",
    '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"NOT_FOUND"}',
    "user 5f0c... not found",
]


@pytest.mark.parametrize("text", LEAKING)
def test_a_trace_path_or_exception_class_is_a_leak(text: str) -> None:
    assert leaks(text)


@pytest.mark.parametrize("text", CLEAN)
def test_an_error_meant_for_clients_is_not(text: str) -> None:
    assert leaks(text) == []


def test_what_the_client_sent_and_got_back_is_not_a_leak() -> None:
    reply = '{"display_name": "notes.py", "message": "KeyError"}'
    assert leaks(reply, sent='{"display_name": "notes.py"}') == ["KeyError"]
