"""Secret config values never reach a log line, however they are logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from protomesh import logs
from protomesh.config import Secret, secret_values, setting

PASSWORD = 'pa"ss\\word-1234'


@dataclass(frozen=True)
class Config:
    database_password: Secret | None = setting(None)
    api_token: Secret = setting(Secret("tok-abcdef"))
    port: int = setting(50051)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    logging.getLogger().handlers.clear()


def test_secret_values_are_the_revealed_secret_fields() -> None:
    config = Config(database_password=Secret(PASSWORD))
    assert sorted(secret_values(config)) == sorted([PASSWORD, "tok-abcdef"])
    assert secret_values(Config(api_token=Secret("x"), database_password=None)) == ["x"]


@pytest.mark.parametrize("pretty", [False, True])
def test_secrets_are_redacted_in_messages_extras_and_tracebacks(
    stream: io.StringIO, pretty: bool
) -> None:
    config = Config(database_password=Secret(PASSWORD))
    logs.configure("user", stream=stream, pretty=pretty, secrets=secret_values(config))
    log = logging.getLogger("services.user")
    log.info("connecting with %s", PASSWORD, extra={"dsn": f"postgresql://u:{PASSWORD}@h/db"})
    try:
        raise ValueError(f"bad token tok-abcdef for {PASSWORD}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert PASSWORD not in text
    assert json.dumps(PASSWORD)[1:-1] not in text
    assert "tok-abcdef" not in text
    assert text.count(logs.REDACTED) >= 4
    if not pretty:
        first = json.loads(text.splitlines()[0])
        assert first["message"] == "connecting with ***"
        assert first["dsn"] == "postgresql://u:***@h/db"


def test_values_too_short_to_tell_apart_are_left_alone(stream: io.StringIO) -> None:
    logs.configure("user", stream=stream, pretty=False, secrets=["ab"])
    logging.getLogger("x").info("about abc")
    assert json.loads(stream.getvalue())["message"] == "about abc"


def test_json_lines_read_as_text_with_their_ids_first() -> None:
    line = json.dumps(
        {
            "ts": "2026-11-29T21:50:01.123+00:00",
            "level": "info",
            "service": "user",
            "logger": "protomesh.access",
            "message": "rpc /shop.user.v1.UserService/GetUser OK",
            "rpc_method": "/shop.user.v1.UserService/GetUser",
            "request_id": "req-1",
            "trace_id": "ab" * 16,
            "span_id": "cd" * 8,
        }
    )
    assert logs.readable(line) == (
        "2026-11-29T21:50:01.123+00:00 info    rpc /shop.user.v1.UserService/GetUser OK"
        f" request_id=req-1 trace_id={'ab' * 16} rpc_method=/shop.user.v1.UserService/GetUser"
    )
    assert logs.readable("plain text") == "plain text"
    assert (
        logs.readable('{"request_id": "r", "status": 200}') == '{"request_id": "r", "status": 200}'
    )
