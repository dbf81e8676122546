"""Proof that a provider change breaking a consumer fails the provider's check, naming the
consumer, the method or event and the field. Each test breaks a copy, never the checkout:
the contracts (proto/) for the static check, the user service's code (run as a process
from the copy) for the live one. The live cases are changes `buf breaking` cannot see, no
.proto changes at all: an error code that changes, an event field or a reply field left
unfilled.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.contracts.consumers.model import Contract, FieldUse, RpcExample, RpcUse
from tests.contracts.workspace import USER_V1, ProtoWorkspace
from tests.support.postgres import Postgres
from tests.support.provider_verification import verify_live, verify_statically
from tests.support.service import ServiceProcess, user_service
from tests.support.user_provider import user_provider

pytestmark = pytest.mark.integration

USER_EVENTS_V1 = "proto/shop/user/events/v1/events.proto"
DISPLAY_NAME_READ = FieldUse("user.display_name", (1, 3), "string")
REGISTERED_NAME = "  // The display name registered.\n  string display_name = 3;\n"


def broken_statically(workspace: ProtoWorkspace) -> list[str]:
    return [str(found) for found in verify_statically("user", workspace.image("mutated"))]


def test_the_unchanged_contracts_pass(workspace: ProtoWorkspace) -> None:
    assert broken_statically(workspace) == []


def test_dropping_a_field_an_event_consumer_reads_names_it(workspace: ProtoWorkspace) -> None:
    workspace.replace(USER_EVENTS_V1, REGISTERED_NAME, "  reserved 3;\n")
    assert broken_statically(workspace) == [
        "order relies on user: shop.user.events.v1.UserRegistered field display_name:"
        " field display_name is gone"
    ]


def test_changing_the_type_of_a_field_the_consumer_sets_names_it(
    workspace: ProtoWorkspace,
) -> None:
    workspace.replace(
        USER_V1,
        "message GetUserRequest {\n  // Constraints: required; a UUID.\n  string user_id = 1;",
        "message GetUserRequest {\n  // Constraints: required; a UUID.\n  bytes user_id = 1;",
    )
    assert broken_statically(workspace) == [
        "order relies on user: shop.user.v1.UserService/GetUser request user_id:"
        " field user_id changed type string -> bytes"
    ]


def test_a_new_major_version_that_drops_a_field_names_it(workspace: ProtoWorkspace) -> None:
    """v1 of the user events retired, v2 without display_name: order still reads it."""
    v1 = workspace.root / USER_EVENTS_V1
    v2 = (
        v1.read_text()
        .replace("shop.user.events.v1", "shop.user.events.v2")
        .replace(REGISTERED_NAME, "  reserved 3;\n")
    )
    v1.unlink()
    workspace.add("proto/shop/user/events/v2/events.proto", v2)
    found = broken_statically(workspace)
    assert (
        "order relies on user: shop.user.events.v1.UserRegistered: the event type is gone;"
        " shop.user.events.v2.UserRegistered remains, but drops what order relies on:"
        " shop.user.events.v2.UserRegistered: field display_name is gone"
    ) in found, found


def copy_of_the_code(target: Path) -> Path:
    """The runtime, the services and the registry, to run a mutated user service from."""
    for name in ("protomesh", "services"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "mesh.yaml", target / "mesh.yaml")
    return target


def mutate(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert text.count(old) == 1, f"expected {old!r} once in {relative}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def mutated_user_service(
    postgres: Postgres, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, Path]]:
    copy = copy_of_the_code(tmp_path / "checkout")
    service = user_service(postgres, tmp_path)
    service.cwd = copy
    yield service, copy
    service.kill()


async def test_an_error_code_that_changes_names_the_consumer_and_method(
    mutated_user_service: tuple[ServiceProcess, Path], postgres: Postgres
) -> None:
    service, copy = mutated_user_service
    mutate(
        copy,
        "services/user/domain.py",
        "class UserNotFound(NotFound):\n    def __init__(self, user_id: uuid.UUID | str) -> None:\n"
        '        super().__init__("user", str(user_id))',
        "class UserNotFound(InvalidArgument):\n"
        "    def __init__(self, user_id: uuid.UUID | str) -> None:\n"
        '        super().__init__([FieldViolation("user_id", f"no user {user_id}")])',
    )
    mutate(
        copy,
        "services/user/domain.py",
        "from protomesh.errors import AlreadyExists, FailedPrecondition, NotFound",
        # A line of its own before the domain's import, whatever else that one names.
        "from protomesh.errors import FieldViolation, InvalidArgument\n"
        "from protomesh.errors import AlreadyExists, FailedPrecondition, NotFound",
    )
    service.start()
    states, producers = user_provider(service, postgres)
    found = [
        str(item)
        for item in await verify_live("user", service.address, states=states, producers=producers)
    ]
    assert found == [
        "order relies on user: shop.user.v1.UserService/GetUser (a customer who does not exist):"
        " expected NOT_FOUND, got INVALID_ARGUMENT"
    ]


async def test_a_field_the_consumer_reads_left_unfilled_names_it(
    mutated_user_service: tuple[ServiceProcess, Path], postgres: Postgres
) -> None:
    service, copy = mutated_user_service
    registered = "            return events_pb2.UserRegistered(\n"
    user_id = "                user_id=str(event.user_id),\n"
    mutate(
        copy,
        "services/user/events.py",
        f"{registered}{user_id}                email=event.email,\n",
        f"{registered}{user_id}",
    )
    service.start()
    states, producers = user_provider(service, postgres)
    found = [
        str(item)
        for item in await verify_live("user", service.address, states=states, producers=producers)
    ]
    assert found == [
        "order relies on user: shop.user.events.v1.UserRegistered field email:"
        " email is left at its default ('')"
    ]


async def test_a_reply_field_the_consumer_reads_left_unfilled_names_it(
    mutated_user_service: tuple[ServiceProcess, Path], postgres: Postgres, tmp_path: Path
) -> None:
    """Order reads nothing from GetUser's reply; the coming bff will read the display name."""
    bff = Contract(
        "bff",
        "user",
        recorded_by="tests.example",
        rpcs=(
            RpcUse(
                "shop.user.v1.UserService/GetUser",
                sets=(FieldUse("user_id", (1,), "string"),),
                reads=(FieldUse("user", (1,), "message shop.user.v1.User"), DISPLAY_NAME_READ),
                examples=(
                    RpcExample(
                        "a user's profile", {"user_id": "${user_id}"}, "OK", "a user exists"
                    ),
                ),
            ),
        ),
    )
    contracts = tmp_path / "contracts"
    (contracts / "bff").mkdir(parents=True)
    (contracts / bff.file_name()).write_text(bff.to_json())
    assert verify_statically("user", contracts=contracts) == []
    service, copy = mutated_user_service
    mutate(
        copy,
        "services/user/mapping.py",
        "        display_name=user.display_name,\n        create_time=",
        "        create_time=",
    )
    service.start()
    states, producers = user_provider(service, postgres)
    found = await verify_live(
        "user", service.address, states=states, producers=producers, contracts=contracts
    )
    assert [str(item) for item in found] == [
        "bff relies on user: shop.user.v1.UserService/GetUser (a user's profile) response"
        " user.display_name: user.display_name is left at its default ('')"
    ]


def test_renaming_a_method_a_consumer_calls_names_it(workspace: ProtoWorkspace) -> None:
    workspace.replace(USER_V1, "rpc GetUser(", "rpc FetchUser(")
    assert broken_statically(workspace) == [
        "order relies on user: shop.user.v1.UserService/GetUser: the method is gone;"
        " shop.user.v2.UserService/GetUser remains"
    ]
