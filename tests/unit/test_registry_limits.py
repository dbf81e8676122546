"""mesh.yaml's per-service `limits`: checked on load, with the path of every problem."""

from __future__ import annotations

from typing import Any

import pytest

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import (
    DEFAULT_MESH_FILE,
    CallLimits,
    RegistryError,
    RpcCatalogue,
    TokenBucket,
    load_mesh,
    parse_mesh,
)
from tests.unit.test_registry import mesh_with, problems_in

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)
PATH = "services.user.limits"


def with_limits(limits: object) -> str:
    def change(document: dict[str, Any]) -> None:
        document["services"]["user"]["limits"] = limits

    return mesh_with(change)


def test_limits_read_into_service_and_method_buckets() -> None:
    text = with_limits(
        {
            "max_concurrent_calls": 32,
            "per_caller": {"requests": 100, "per": "1s", "burst": 200},
            "methods": {
                "shop.user.v1.UserService/CreateUser": {
                    "per_end_user": {"requests": 5, "per": "1m"}
                },
            },
        }
    )
    limits = parse_mesh(text, catalogue=CATALOGUE).services["user"].limits
    assert limits.max_concurrent_calls == 32
    assert limits.service == CallLimits(per_caller=TokenBucket(100, 1.0, 200))
    assert limits.methods == {
        "shop.user.v1.UserService/CreateUser": CallLimits(per_end_user=TokenBucket(5, 60.0, 5))
    }


def test_a_service_without_limits_has_none() -> None:
    limits = parse_mesh(mesh_with(lambda _: None)).services["user"].limits
    assert (limits.max_concurrent_calls, limits.service, limits.methods) == (None, CallLimits(), {})


def test_the_checked_in_mesh_bounds_every_service() -> None:
    mesh = load_mesh(DEFAULT_MESH_FILE)
    assert all(s.limits.max_concurrent_calls for s in mesh.services.values())


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"per_callr": {}}, f"{PATH}.per_callr: unknown key (did you mean per_caller?)"),
        ({"max_concurrent_calls": 0}, f"{PATH}.max_concurrent_calls: 0 is not a whole number >= 1"),
        (
            {"per_caller": {"requests": 10}},
            f"{PATH}.per_caller.per: required but missing",
        ),
        (
            {"per_end_user": {"requests": 10, "per": "soon"}},
            f"{PATH}.per_end_user.per: 'soon' is not a duration like 250ms, 2s or 1m",
        ),
        (
            {"per_caller": {"requests": 10, "per": "1s", "burst": 5}},
            f"{PATH}.per_caller.burst: 5 is below requests (10): no refill fits",
        ),
        (
            {"methods": {"shop.user.v1.UserService": {"per_caller": {}}}},
            f"{PATH}.methods.shop.user.v1.UserService: "
            "expected pkg.Service/Method or pkg.Service/* as the key",
        ),
        (
            {"methods": {"shop.order.v1.OrderService/*": {}}},
            f"{PATH}.methods.shop.order.v1.OrderService/*: "
            "shop.order.v1.OrderService is not in this service's serves",
        ),
        (
            {"methods": {"shop.user.v1.UserService/*": {}}},
            f"{PATH}.methods.shop.user.v1.UserService/*: "
            "set per_caller or per_end_user, or leave the method out",
        ),
        ("lots", f"{PATH}: expected a mapping, got str"),
    ],
)
def test_a_bad_limit_names_its_path(limits: object, problem: str) -> None:
    assert problems_in(with_limits(limits)) == [problem]


def test_a_method_the_contract_lacks_is_an_error() -> None:
    text = with_limits(
        {
            "methods": {
                "shop.user.v1.UserService/GetUsr": {"per_caller": {"requests": 1, "per": "1s"}}
            }
        }
    )
    with pytest.raises(RegistryError) as raised:
        parse_mesh(text, catalogue=CATALOGUE)
    assert raised.value.problems == [
        f"{PATH}.methods.shop.user.v1.UserService/GetUsr: "
        "shop.user.v1.UserService has no method GetUsr"
    ]
