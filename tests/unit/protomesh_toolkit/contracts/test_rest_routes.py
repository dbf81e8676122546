from __future__ import annotations

from pathlib import Path

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from protomesh_toolkit.contracts.rest_routes import (
    Route,
    is_stable,
    read_descriptor_set,
    route_violations,
    routes_by_method,
)


def api(package: str, **rules: http_pb2.HttpRule | None) -> descriptor_pb2.FileDescriptorSet:
    """One file with a UserService whose RPCs are the keyword names (None: no route)."""
    files = descriptor_pb2.FileDescriptorSet()
    file = files.file.add(name=f"{package.replace('.', '/')}/user.proto", package=package)
    service = file.service.add(name="UserService")
    for name, rule in rules.items():
        method = service.method.add(name=name, input_type=".Req", output_type=".Res")
        if rule is not None:
            method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    return files


GET_USER = http_pb2.HttpRule(get="/v1/users/{user_id}")
UPDATE_USER = http_pb2.HttpRule(patch="/v1/users/{user_id}", body="*")


def test_every_binding_of_an_rpc_is_a_route() -> None:
    rule = http_pb2.HttpRule(
        get="/v1/users/{user_id=*}",
        response_body="user",
        additional_bindings=[
            http_pb2.HttpRule(post="/v1/users:lookup", body="*"),
            http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="HEAD", path="/v1/u/{id}")),
        ],
    )
    assert routes_by_method(api("shop.user.v1", GetUser=rule)) == {
        "shop.user.v1.UserService.GetUser": {
            Route("GET", "/v1/users/{user_id}", response_body="user"),
            Route("POST", "/v1/users:lookup", body="*"),
            Route("HEAD", "/v1/u/{id}"),
        }
    }


def test_rpcs_without_routes_are_listed_and_other_packages_are_not() -> None:
    files = api("shop.user.v1", Ping=None)
    files.file.extend(api("google.longrunning", GetOperation=GET_USER).file)
    assert routes_by_method(files) == {"shop.user.v1.UserService.Ping": frozenset()}


def test_routes_survive_the_binary_form_buf_writes(tmp_path: Path) -> None:
    image = tmp_path / "image.binpb"
    image.write_bytes(api("shop.user.v1", UpdateUser=UPDATE_USER).SerializeToString())
    assert routes_by_method(read_descriptor_set(image)) == {
        "shop.user.v1.UserService.UpdateUser": {Route("PATCH", "/v1/users/{user_id}", body="*")}
    }


@pytest.mark.parametrize(
    ("package", "stable"),
    [
        ("shop.user.v1", True),
        ("shop.order.v12", True),
        ("shop.user.v1alpha1", False),
        ("shop.user.v2beta", False),
        ("shop.user.v3test", False),
        ("shop.user", False),
    ],
)
def test_only_plain_versions_are_stable(package: str, stable: bool) -> None:
    assert is_stable(package) is stable


def test_a_moved_path_names_the_old_and_the_new_route() -> None:
    moved = http_pb2.HttpRule(get="/v1/people/{user_id}")
    assert route_violations(
        api("shop.user.v1", GetUser=GET_USER), api("shop.user.v1", GetUser=moved)
    ) == [
        "shop.user.v1.UserService.GetUser: route GET /v1/users/{user_id} was removed"
        " (now GET /v1/people/{user_id})"
    ]


@pytest.mark.parametrize(
    ("changed", "now"),
    [
        (
            http_pb2.HttpRule(put="/v1/users/{user_id}", body="*"),
            'PUT /v1/users/{user_id} body "*"',
        ),
        (
            http_pb2.HttpRule(patch="/v1/users/{user_id}", body="user"),
            'PATCH /v1/users/{user_id} body "user"',
        ),
        (
            http_pb2.HttpRule(patch="/v1/users/{user_id}", body="*", response_body="user"),
            'PATCH /v1/users/{user_id} body "*" response_body "user"',
        ),
    ],
    ids=["verb", "body", "response_body"],
)
def test_a_changed_verb_or_body_mapping_is_a_violation(
    changed: http_pb2.HttpRule, now: str
) -> None:
    violations = route_violations(
        api("shop.user.v1", UpdateUser=UPDATE_USER), api("shop.user.v1", UpdateUser=changed)
    )
    assert violations == [
        "shop.user.v1.UserService.UpdateUser:"
        f' route PATCH /v1/users/{{user_id}} body "*" was removed (now {now})'
    ]


def test_losing_a_route_or_the_whole_rpc_is_a_violation() -> None:
    base = api("shop.user.v1", GetUser=GET_USER, UpdateUser=UPDATE_USER)
    assert route_violations(base, api("shop.user.v1", GetUser=None)) == [
        "shop.user.v1.UserService.GetUser: route GET /v1/users/{user_id} was removed"
        " (the RPC has no route now)",
        'shop.user.v1.UserService.UpdateUser: route PATCH /v1/users/{user_id} body "*" was removed'
        " (the RPC no longer exists)",
    ]


def test_dropping_an_additional_binding_is_a_violation() -> None:
    both = http_pb2.HttpRule(
        get="/v1/users/{user_id}", additional_bindings=[http_pb2.HttpRule(get="/v1/me")]
    )
    assert route_violations(
        api("shop.user.v1", GetUser=both), api("shop.user.v1", GetUser=GET_USER)
    ) == ["shop.user.v1.UserService.GetUser: route GET /v1/me was removed"]


def test_new_routes_and_equivalent_templates_are_fine() -> None:
    same = http_pb2.HttpRule(
        get="/v1/users/{user_id=*}", additional_bindings=[http_pb2.HttpRule(get="/v1/me")]
    )
    current = api(
        "shop.user.v1", GetUser=same, DeleteUser=http_pb2.HttpRule(delete="/v1/users/{user_id}")
    )
    assert route_violations(api("shop.user.v1", GetUser=GET_USER), current) == []


def test_unstable_packages_may_change_their_routes() -> None:
    moved = http_pb2.HttpRule(get="/v1alpha1/people/{user_id}")
    base = api("shop.user.v1alpha1", GetUser=GET_USER)
    assert route_violations(base, api("shop.user.v1alpha1", GetUser=moved)) == []
