"""The registry's replicas and edge section: read, resolved, and refused with a path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import yaml

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import (
    DEFAULT_MESH_FILE,
    Access,
    Policy,
    RegistryError,
    RpcCatalogue,
    TokenBucket,
    load_mesh,
    parse_mesh,
)
from protomesh.registry.model import AUTH_FORMS, OWNER, PUBLIC, SIGNED_IN

BASE: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)
V1 = "shop.user.v1.UserService"


def mesh_with(change: Callable[[dict[str, Any]], None]) -> str:
    document = copy.deepcopy(BASE)
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


def problems_in(text: str, catalogue: RpcCatalogue | None = None) -> list[str]:
    with pytest.raises(RegistryError) as raised:
        parse_mesh(text, catalogue=catalogue)
    return raised.value.problems


def routes(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["edge"]["routes"]
    return found


def two_user_replicas(document: dict[str, Any]) -> None:
    user = document["services"]["user"]
    user.pop("port")
    user.pop("metrics_port", None)
    user["replicas"] = [
        {"port": {"local": 50051, "compose": 50051}},
        {"port": {"local": 50062, "compose": 50052}},
        {"port": {"local": 50063}},
    ]


def test_the_checked_in_mesh_agrees_with_the_contracts() -> None:
    mesh = load_mesh(catalogue=CATALOGUE)
    assert mesh.edge is not None
    assert mesh.edge.exposed == (
        V1,
        "shop.user.v2.UserService",
        "shop.order.v1.OrderService",
        "shop.reporting.v1.ReportingService",
        "shop.bff.web.v1.WebBffService",
    )


def test_one_replica_is_addressed_by_loopback_locally_and_by_name_in_containers() -> None:
    user = load_mesh().services["user"]
    assert user.addresses("local") == ["127.0.0.1:50051"]
    assert user.addresses("compose") == ["user:50051"]


def test_replicas_each_have_a_port_and_may_run_in_some_environments_only() -> None:
    user = parse_mesh(mesh_with(two_user_replicas)).services["user"]
    assert user.addresses("local") == ["127.0.0.1:50051", "127.0.0.1:50062", "127.0.0.1:50063"]
    assert user.addresses("compose") == ["user-1:50051", "user-2:50052"]
    assert [user.replica_name(r, "local") for r in user.replicas] == ["user-1", "user-2", "user-3"]
    assert user.ports == {"local": 50051, "compose": 50051}


def test_every_environment_needs_a_replica() -> None:
    def local_only(document: dict[str, Any]) -> None:
        two_user_replicas(document)
        for replica in document["services"]["user"]["replicas"]:
            replica["port"].pop("compose", None)

    assert problems_in(mesh_with(local_only)) == [
        "services.user.replicas: no replica has a port in compose"
    ]


def test_a_service_has_a_port_or_replicas_not_both() -> None:
    def both(document: dict[str, Any]) -> None:
        document["services"]["user"]["replicas"] = [{"port": {"local": 50061, "compose": 50061}}]

    assert problems_in(mesh_with(both)) == [
        "services.user: give it either a port, or replicas (each with a port)"
    ]


def test_a_replica_port_clash_names_the_replica() -> None:
    def clash(document: dict[str, Any]) -> None:
        two_user_replicas(document)
        document["services"]["user"]["replicas"][1]["port"]["local"] = 8080

    assert problems_in(mesh_with(clash)) == [
        "edge.port.local: 8080 is already used by services.user.replicas[1]"
    ]


def test_the_edge_ports_are_claimed_like_any_other() -> None:
    text = mesh_with(lambda d: d["edge"]["admin_port"].update(local=55432))
    assert problems_in(text) == [
        "edge.admin_port.local: 55432 is already used by infrastructure.postgres"
    ]


def test_policies_resolve_method_then_service_then_defaults() -> None:
    edge = load_mesh().edge
    assert edge is not None
    update = edge.policy("shop.user.v2.UserService", "VerifyEmail")
    assert (update.timeout, update.retries, update.auth) == (2.0, 2, Access(OWNER, "user_id"))
    assert update.requires_token
    assert update.quota is not None
    assert update.quota.bucket == TokenBucket(5, 60.0, 5)
    create = edge.policy(V1, "CreateUser")
    assert create.rate_limit == TokenBucket(20, 1.0, 40)
    assert (create.auth, create.requires_token) == (Access(PUBLIC), False)
    assert Policy(timeout=1.0).over(Policy(timeout=9.0, retries=1)) == Policy(
        timeout=1.0, retries=1
    )


def test_strict_json_is_on_unless_a_route_or_the_defaults_turn_it_off() -> None:
    def relaxed(document: dict[str, Any]) -> None:
        routes(document)[f"{V1}/CreateUser"]["strict_json"] = False
        routes(document)["shop.user.v2.UserService"]["strict_json"] = False
        routes(document)["shop.user.v2.UserService/CreateUser"]["strict_json"] = True

    edge = parse_mesh(mesh_with(relaxed)).edge
    assert edge is not None
    assert edge.policy(V1, "UpdateUser").strict_json is True
    assert edge.policy(V1, "CreateUser").strict_json is False
    assert edge.policy("shop.user.v2.UserService", "UpdateUser").strict_json is False
    assert edge.policy("shop.user.v2.UserService", "CreateUser").strict_json is True
    off = parse_mesh(mesh_with(lambda d: d["edge"]["defaults"].update(strict_json=False))).edge
    assert off is not None
    assert off.policy(V1, "UpdateUser").strict_json is False


def test_a_route_must_name_a_proto_service_someone_serves() -> None:
    text = mesh_with(lambda d: routes(d).update({"shop.user.v3.UserService": {}}))
    assert problems_in(text) == [
        "edge.routes.shop.user.v3.UserService: no service serves shop.user.v3.UserService "
        "(did you mean shop.user.v2.UserService?)"
    ]


def test_a_method_route_needs_its_service_exposed() -> None:
    def method_only(document: dict[str, Any]) -> None:
        del routes(document)["shop.user.v2.UserService"]

    assert problems_in(mesh_with(method_only)) == [
        f"edge.routes.shop.user.v2.UserService/{m}: shop.user.v2.UserService is not exposed: "
        "add it to edge.routes first"
        for m in (
            "CreateUser",
            "GetUser",
            "ListUsers",
            "UpdateUser",
            "SendEmailVerification",
            "VerifyEmail",
        )
    ]


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"timeout": "soon"}, "timeout: 'soon' is not a duration like 250ms, 2s or 1m"),
        ({"timeout": "0s"}, "timeout: '0s' is not a duration like 250ms, 2s or 1m"),
        ({"retries": -1}, "retries: -1 is not a whole number >= 0"),
        ({"auth": "yes"}, f"auth: 'yes' is not one of {AUTH_FORMS}"),
        (
            {"auth": {"owner": "User-Id"}},
            "auth.owner: 'User-Id' is not a request field like user_id",
        ),
        ({"auth": {"role": 1}}, "auth.role: 1 is not a role like admin"),
        (
            {"auth": {"owner": "a", "role": "b"}},
            f"auth: {{'owner': 'a', 'role': 'b'}} is not one of {AUTH_FORMS}",
        ),
        ({"strict_json": "off"}, "strict_json: 'off' is not true or false"),
        ({"rate_limit": {"requests": 10}}, "rate_limit.per: required but missing"),
        (
            {"rate_limit": {"requests": 10, "per": "1s", "burst": 5}},
            "rate_limit.burst: 5 is below requests (10): no refill fits",
        ),
        (
            {"quota": {"by": "ip", "requests": 1, "per": "1s"}},
            "quota.by: 'ip' is not one of jwt_subject, api_key",
        ),
        (
            {"auth": "public", "quota": {"by": "jwt_subject", "requests": 1, "per": "1s"}},
            "quota: a quota by jwt_subject needs a route that requires a token (auth other "
            "than public)",
        ),
        ({"retires": 2}, "retires: unknown key (did you mean retries?)"),
    ],
)
def test_bad_policies_are_named_by_path(policy: dict[str, Any], problem: str) -> None:
    text = mesh_with(lambda d: routes(d).update({f"{V1}/GetUser": policy}))
    assert problems_in(text) == [f"edge.routes.{V1}/GetUser.{problem}"]


def test_routes_that_require_a_token_need_a_jwt_issuer() -> None:
    def no_jwt(document: dict[str, Any]) -> None:
        del document["edge"]["jwt"]

    assert (
        f"edge.routes.{V1}/UpdateUser: auth: owner: user_id needs edge.jwt (issuer and audiences)"
        in problems_in(mesh_with(no_jwt))
    )


def test_there_is_no_default_end_user_policy() -> None:
    text = mesh_with(lambda d: d["edge"]["defaults"].update(auth="public"))
    assert problems_in(text) == [
        "edge.defaults.auth: no end-user policy by default (deny by default): "
        "give each route its own auth"
    ]


def test_every_exposed_rpc_needs_an_end_user_policy_with_the_contracts() -> None:
    text = mesh_with(lambda d: routes(d).pop(f"{V1}/ListUsers"))
    assert parse_mesh(text).edge is not None  # the file alone cannot tell which RPCs exist
    assert problems_in(text, CATALOGUE) == [
        f"edge.routes.{V1}/ListUsers: no auth (deny by default); give it, or "
        f"edge.routes.{V1}, one of {AUTH_FORMS}"
    ]


def test_a_service_wide_policy_covers_its_methods() -> None:
    def service_wide(document: dict[str, Any]) -> None:
        for key in [k for k in routes(document) if k.startswith(f"{V1}/")]:
            del routes(document)[key]
        routes(document)[V1]["auth"] = "signed_in"

    mesh = parse_mesh(mesh_with(service_wide), catalogue=CATALOGUE)
    assert mesh.edge is not None
    assert mesh.edge.policy(V1, "ListUsers").auth == Access(SIGNED_IN)


def test_an_owner_must_be_a_string_field_of_the_request() -> None:
    text = mesh_with(lambda d: routes(d).update({f"{V1}/GetUser": {"auth": {"owner": "page"}}}))
    assert problems_in(text, CATALOGUE) == [
        f"edge.routes.{V1}/GetUser.auth.owner: GetUser's request has no string field page "
        "(its string fields: user_id)"
    ]


def test_retries_on_a_non_idempotent_method_are_refused_with_the_contracts() -> None:
    text = mesh_with(lambda d: routes(d)[f"{V1}/CreateUser"].update(retries=3))
    assert parse_mesh(text).edge is not None  # the file alone cannot tell
    assert problems_in(text, CATALOGUE) == [
        f"edge.routes.{V1}/CreateUser.retries: CreateUser is not idempotent (POST /v1/users); "
        "retry only methods with GET, PUT or DELETE, or an idempotency_level"
    ]


def test_a_method_the_contract_lacks_is_refused() -> None:
    text = mesh_with(lambda d: routes(d).update({f"{V1}/DeleteUser": {"auth": "public"}}))
    assert problems_in(text, CATALOGUE) == [
        f"edge.routes.{V1}/DeleteUser: {V1} has no method DeleteUser"
    ]


def test_serving_a_proto_service_the_contracts_lack_is_refused() -> None:
    text = mesh_with(lambda d: d["services"]["user"]["serves"].append("shop.user.v9.UserService"))
    problems = problems_in(text, CATALOGUE)
    assert problems == [
        f"services.user.serves[2]: shop.user.v9.UserService (not in {DESCRIPTOR_SET})"
    ]


def test_the_catalogue_reads_idempotency_from_the_http_verb() -> None:
    methods = CATALOGUE.services["shop.user.v2.UserService"]
    assert methods["GetUser"].idempotent
    assert methods["GetUser"].http == "GET /v2/users/{user_id}"
    assert not methods["VerifyEmail"].idempotent
    assert not methods["UpdateUser"].idempotent  # PATCH


def test_a_streaming_rpc_cannot_be_exposed() -> None:
    """End-user policies are enforced on unary RPCs; a stream would go unchecked."""
    methods = dict(CATALOGUE.services[V1])
    methods["GetUser"] = replace(methods["GetUser"], streaming=True)
    catalogue = replace(CATALOGUE, services={**CATALOGUE.services, V1: methods})
    assert problems_in(mesh_with(lambda d: None), catalogue) == [
        f"edge.routes.{V1}: GetUser streams, and end-user policies are enforced on unary RPCs "
        "only (protomesh/interceptors/end_user_policy.py)"
    ]
