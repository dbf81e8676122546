"""Proof that the REST route guard catches what `buf breaking` lets through."""

from __future__ import annotations

from pathlib import Path

import pytest

from protomesh_toolkit.contracts.breaking import BufBreaking
from protomesh_toolkit.contracts.rest_routes import read_descriptor_set, route_violations
from tests.contracts.workspace import USER_V1, ProtoWorkspace

pytestmark = pytest.mark.integration

GET_USER_ROUTE = 'option (google.api.http) = {get: "/v1/users/{user_id}"};'
UPDATE_USER_ROUTE = 'patch: "/v1/users/{user_id}"\n      body: "*"'
LIST_USERS = (
    "  // ListUsers pages through users, oldest first.\n"
    "  rpc ListUsers(ListUsersRequest) returns (ListUsersResponse) {"
)
USER_MESSAGE = "// User is a customer account as v1 clients see it."
LIST_USERS_ROUTE = '    option (google.api.http) = {get: "/v1/users"};\n'


def compare(workspace: ProtoWorkspace, base_image: Path) -> tuple[BufBreaking, list[str]]:
    current = workspace.image("current")
    routes = route_violations(read_descriptor_set(base_image), read_descriptor_set(current))
    return workspace.breaking(base_image), routes


def test_a_moved_path_passes_buf_but_not_the_route_guard(
    workspace: ProtoWorkspace, base_image: Path
) -> None:
    workspace.replace(USER_V1, GET_USER_ROUTE, GET_USER_ROUTE.replace("users", "people"))
    buf, routes = compare(workspace, base_image)
    assert buf.passed, buf.output
    assert routes == [
        "shop.user.v1.UserService.GetUser: route GET /v1/users/{user_id} was removed"
        " (now GET /v1/people/{user_id})"
    ]


def test_a_changed_verb_is_caught(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, UPDATE_USER_ROUTE, UPDATE_USER_ROUTE.replace("patch:", "put:"))
    _, routes = compare(workspace, base_image)
    assert routes == [
        'shop.user.v1.UserService.UpdateUser: route PATCH /v1/users/{user_id} body "*"'
        ' was removed (now PUT /v1/users/{user_id} body "*")'
    ]


def test_a_changed_body_mapping_is_caught(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, UPDATE_USER_ROUTE, UPDATE_USER_ROUTE.replace('"*"', '"email"'))
    _, routes = compare(workspace, base_image)
    assert routes == [
        'shop.user.v1.UserService.UpdateUser: route PATCH /v1/users/{user_id} body "*"'
        ' was removed (now PATCH /v1/users/{user_id} body "email")'
    ]


def test_a_removed_route_is_caught(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, LIST_USERS + "\n" + LIST_USERS_ROUTE, LIST_USERS + "\n")
    buf, routes = compare(workspace, base_image)
    assert buf.passed, buf.output
    assert routes == [
        "shop.user.v1.UserService.ListUsers: route GET /v1/users was removed"
        " (the RPC has no route now)"
    ]


def test_a_new_rpc_with_a_route_passes(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(
        USER_V1,
        LIST_USERS,
        "  // DeleteUser removes one user.\n"
        "  rpc DeleteUser(DeleteUserRequest) returns (DeleteUserResponse) {\n"
        '    option (google.api.http) = {delete: "/v1/users/{user_id}"};\n'
        "  }\n\n" + LIST_USERS,
    )
    workspace.replace(
        USER_V1,
        USER_MESSAGE,
        "// DeleteUserRequest names the user to delete.\nmessage DeleteUserRequest {\n"
        "  // The user's id.\n  string user_id = 1;\n}\n\n"
        "// DeleteUserResponse is empty.\nmessage DeleteUserResponse {}\n\n" + USER_MESSAGE,
    )
    buf, routes = compare(workspace, base_image)
    assert buf.passed, buf.output
    assert routes == []


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v3alpha1", []),
        (
            "v3",
            [
                "shop.user.v3.UserService.GetUser: route GET /v1/users/{user_id} was removed"
                " (now GET /v1/people/{user_id})"
            ],
        ),
    ],
)
def test_only_stable_packages_promise_their_routes(
    workspace: ProtoWorkspace, version: str, expected: list[str]
) -> None:
    copy = f"proto/shop/user/{version}/user.proto"
    text = (workspace.root / USER_V1).read_text()
    workspace.add(copy, text.replace("package shop.user.v1;", f"package shop.user.{version};"))
    base = workspace.image("base")
    workspace.replace(copy, GET_USER_ROUTE, GET_USER_ROUTE.replace("users", "people"))
    current = workspace.image("current")
    assert route_violations(read_descriptor_set(base), read_descriptor_set(current)) == expected
