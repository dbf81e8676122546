"""mesh.yaml's `callers` and `identities`: checked on load, with the path of every problem."""

from __future__ import annotations

from typing import Any

import pytest

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import RegistryError, RpcCatalogue, parse_mesh
from tests.unit.protomesh.registry.test_registry import mesh_with, problems_in

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)


def with_callers(callers: dict[str, Any], **top: Any) -> str:
    def change(document: dict[str, Any]) -> None:
        document["services"]["user"]["callers"] = callers
        document.update(top)

    return mesh_with(change)


def test_callers_name_services_and_listed_identities() -> None:
    text = with_callers(
        {"shop.user.v1.UserService/GetUser": ["order"], "shop.user.v1.UserService/*": ["user"]},
        identities=["order"],
    )
    mesh = parse_mesh(text, catalogue=CATALOGUE)
    assert mesh.services["user"].callers["shop.user.v1.UserService/GetUser"] == ("order",)
    assert mesh.known_identities == ("user", "order")


def test_an_unknown_caller_is_an_error_with_a_suggestion() -> None:
    problems = problems_in(
        with_callers({"shop.user.v1.UserService/GetUser": ["ordr"]}, identities=["order"])
    )
    assert problems == [
        "services.user.callers.shop.user.v1.UserService/GetUser[0]: ordr is no known identity"
        " (did you mean order?); name a service, edge, or add it to the top-level identities"
    ]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("shop.user.v1.UserService", "expected pkg.Service/Method or pkg.Service/* as the key"),
        ("shop.order.v1.OrderService/*", "shop.order.v1.OrderService is not in this service"),
    ],
)
def test_a_malformed_or_foreign_key_is_an_error(key: str, problem: str) -> None:
    problems = problems_in(with_callers({key: ["user"]}))
    assert len(problems) == 1
    assert problem in problems[0]
    assert problems[0].startswith(f"services.user.callers.{key}: ")


def test_a_method_the_contract_lacks_is_an_error() -> None:
    text = with_callers({"shop.user.v1.UserService/GetUsr": ["user"]})
    with pytest.raises(RegistryError, match="has no method GetUsr") as raised:
        parse_mesh(text, catalogue=CATALOGUE)
    assert "services.user.callers.shop.user.v1.UserService/GetUsr" in str(raised.value)


def test_a_caller_that_is_neither_a_service_nor_a_declared_identity_is_refused() -> None:
    """A service that does not exist yet (bff) gets no access ahead of time."""
    problems = problems_in(with_callers({"shop.user.v1.UserService/GetUser": ["bff"]}))
    assert problems == [
        "services.user.callers.shop.user.v1.UserService/GetUser[0]: bff is no known identity"
        " (expected one of: user);"
        " name a service, edge, or add it to the top-level identities"
    ]


@pytest.mark.parametrize(("name", "what"), [("user", "a service"), ("edge", "the edge")])
def test_identities_list_only_holders_the_registry_does_not_run(name: str, what: str) -> None:
    problems = problems_in(with_callers({}, identities=["operator", name]))
    assert problems == [
        f"identities[1]: {name} is {what}: its certificate comes with it;"
        " list only holders this file does not run"
    ]


def test_a_caller_list_must_be_a_list_of_names_without_repeats() -> None:
    problems = problems_in(with_callers({"shop.user.v1.UserService/*": ["user", "user", 3]}))
    assert problems == [
        "services.user.callers.shop.user.v1.UserService/*[1]: user is listed twice",
        "services.user.callers.shop.user.v1.UserService/*[2]: 3 is not an identity name like edge",
    ]
