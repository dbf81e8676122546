"""The parts of pattern 12 that need no server: recording, staleness, field checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shop.user.events.v1 import events_pb2
from shop.user.v1 import user_pb2

from protomesh_toolkit.contracts.consumers.live import missing
from protomesh_toolkit.contracts.consumers.model import Contract, FieldUse, RpcExample, RpcUse
from protomesh_toolkit.contracts.consumers.static import field_problem
from tests.support.contract_recording import RECORD_VARIABLE, ReadTracker, fields_set, settle

DISPLAY_NAME = FieldUse("user.display_name", (1, 3), "string")


def test_the_tracker_notes_reads_and_still_passes_isinstance() -> None:
    reads: set[str] = set()
    reply = user_pb2.GetUserResponse(user=user_pb2.User(user_id="u", display_name="Ada"))
    tracked = ReadTracker(reply, reads)
    assert isinstance(tracked, user_pb2.GetUserResponse | events_pb2.UserRegistered)
    assert tracked.user.display_name == "Ada"
    assert tracked.HasField("user")
    assert reads == {"user", "user.display_name"}


def test_the_fields_a_consumer_set_are_found_in_nested_messages() -> None:
    request = user_pb2.GetUserResponse(user=user_pb2.User(email="a@b.c"))
    assert fields_set(request) == {"user", "user.email"}


def test_an_unfilled_field_is_missing_and_a_filled_one_is_not() -> None:
    reply = user_pb2.GetUserResponse(user=user_pb2.User(user_id="u"))
    assert missing(reply, DISPLAY_NAME) == "user.display_name is left at its default ('')"
    assert missing(user_pb2.GetUserResponse(), DISPLAY_NAME) == "user is not set"
    reply.user.display_name = "Ada"
    assert missing(reply, DISPLAY_NAME) is None


def test_a_renumbered_or_retyped_field_is_a_problem() -> None:
    response = user_pb2.GetUserResponse.DESCRIPTOR
    assert field_problem(response, DISPLAY_NAME) is None
    assert (
        field_problem(response, FieldUse("user.display_name", (1, 7), "string"))
        == "field user.display_name was renumbered 7 -> 3"
    )
    assert (
        field_problem(response, FieldUse("user.display_name", (1, 3), "bytes"))
        == "field user.display_name changed type bytes -> string"
    )
    assert (
        field_problem(response, FieldUse("user.nickname", (1, 3), "string"))
        == "field user.nickname is gone (number 3 is now 'display_name')"
    )


def contract(status: str) -> Contract:
    example = RpcExample("a missing user", {"user_id": "x"}, status)
    use = RpcUse("shop.user.v1.UserService/GetUser", (), (DISPLAY_NAME,), (example,))
    return Contract("bff", "user", "tests.example", rpcs=(use,))


def test_a_stale_contract_file_fails_and_recording_rewrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RECORD_VARIABLE, raising=False)
    with pytest.raises(AssertionError, match=r"contracts/bff/user-rpc\.json is stale"):
        settle(contract("NOT_FOUND"), tmp_path)
    monkeypatch.setenv(RECORD_VARIABLE, "1")
    settle(contract("NOT_FOUND"), tmp_path)
    monkeypatch.delenv(RECORD_VARIABLE)
    settle(contract("NOT_FOUND"), tmp_path)
    with pytest.raises(AssertionError, match=r'-          "status": "NOT_FOUND"'):
        settle(contract("INVALID_ARGUMENT"), tmp_path)


def test_a_contract_reads_back_as_written(tmp_path: Path) -> None:
    written = contract("NOT_FOUND")
    assert Contract.from_json(written.to_json()) == written
    assert json.loads(written.to_json())["format"] == 1
