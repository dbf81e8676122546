"""The rendered Envoy config carries the registry's policy, route by route."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gateway.config import FILES, render
from gateway.routes import ROLES_HEADER, SIGNED_IN, SIGNED_IN_IF_ANY, SUBJECT_HEADER
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import DEFAULT_MESH_FILE, RpcCatalogue, parse_mesh

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)
BASE: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())


def rendered(
    change: Callable[[dict[str, Any]], None] | None = None, environment: str = "local"
) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    if change is not None:
        change(document)
    mesh = parse_mesh(yaml.safe_dump(document), catalogue=CATALOGUE)
    return render(mesh, environment, CATALOGUE, FILES[environment])


def manager(config: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = config["static_resources"]["listeners"][0]["filter_chains"][0][
        "filters"
    ][0]["typed_config"]
    return typed


def routes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    host = manager(config)["route_config"]["virtual_hosts"][0]
    return {route["name"]: route for route in host["routes"]}


def filter_names(config: dict[str, Any]) -> list[str]:
    return [f["name"].rsplit(".", 1)[-1] for f in manager(config)["http_filters"]]


def test_every_rpc_of_an_exposed_service_gets_a_route_and_nothing_else_does() -> None:
    names = set(routes(rendered()))
    for service in ("shop.user.v2.UserService", "shop.order.v1.OrderService"):
        assert {f"{service}/{m}" for m in CATALOGUE.services[service]} <= names

    def hide_orders(document: dict[str, Any]) -> None:
        routes_ = document["edge"]["routes"]
        for key in [k for k in routes_ if k.startswith("shop.order.")]:
            del routes_[key]

    hidden = set(routes(rendered(hide_orders)))
    assert not any(name.startswith("shop.order.") for name in hidden)
    assert list(routes(rendered()))[-1] == "unrouted"


def test_filters_run_in_the_documented_order() -> None:
    assert filter_names(rendered()) == [
        "status_header",
        "cors",
        "buffer",
        "strict_json",
        "grpc_json_transcoder",
        "transport_headers",
        "jwt_authn",
        "local_ratelimit",
        "router",
    ]


def test_no_strict_json_filter_when_every_route_turns_it_off() -> None:
    def lenient(document: dict[str, Any]) -> None:
        document["edge"]["defaults"]["strict_json"] = False

    assert "strict_json" not in filter_names(rendered(lenient))


def test_retries_go_only_to_idempotent_methods_of_a_retried_service() -> None:
    table = routes(rendered())
    get = table["shop.user.v1.UserService/GetUser"]["route"]
    assert get["retry_policy"]["num_retries"] == 2
    assert get["retry_policy"]["retry_on"] == "unavailable,reset,connect-failure"
    for method in ("CreateUser", "UpdateUser"):
        assert "retry_policy" not in table[f"shop.user.v1.UserService/{method}"]["route"]


def test_a_method_timeout_overrides_its_service_and_the_defaults() -> None:
    def tune(document: dict[str, Any]) -> None:
        document["edge"]["routes"]["shop.user.v1.UserService/ListUsers"]["timeout"] = "750ms"

    table = routes(rendered(tune))
    assert table["shop.user.v1.UserService/ListUsers"]["route"]["timeout"] == "0.75s"
    assert table["shop.user.v1.UserService/GetUser"]["route"]["timeout"] == "2s"


def test_every_route_but_a_public_one_requires_a_token_and_those_verify_one_if_sent() -> None:
    table = routes(rendered())

    def requirement(name: str) -> str:
        config = table[name]["typed_per_filter_config"]["envoy.filters.http.jwt_authn"]
        return str(config["requirement_name"])

    for name in ("user.v2.UserService/UpdateUser", "user.v2.UserService/ListUsers"):
        assert requirement(f"shop.{name}") == SIGNED_IN
    assert requirement("shop.user.v2.UserService/GetUser") == SIGNED_IN_IF_ANY
    assert requirement("shop.user.v2.UserService/CreateUser") == SIGNED_IN_IF_ANY


def test_the_verified_subject_is_forwarded_and_never_the_token() -> None:
    jwt_filter = next(
        f for f in manager(rendered())["http_filters"] if f["name"].endswith("jwt_authn")
    )
    provider = next(iter(jwt_filter["typed_config"]["providers"].values()))
    assert provider["claim_to_headers"] == [
        {"header_name": SUBJECT_HEADER, "claim_name": "sub"},
        {"header_name": ROLES_HEADER, "claim_name": "roles"},
    ]
    assert provider["forward"] is False


def test_without_jwt_a_client_sent_subject_header_is_removed() -> None:
    def no_jwt(document: dict[str, Any]) -> None:
        del document["edge"]["jwt"]
        for policy in document["edge"]["routes"].values():
            policy.pop("quota", None)
            if "auth" in policy:
                policy["auth"] = "public"

    config = rendered(no_jwt)
    assert "jwt_authn" not in filter_names(config)
    host = manager(config)["route_config"]["virtual_hosts"][0]
    assert host["request_headers_to_remove"] == [SUBJECT_HEADER, ROLES_HEADER]


def test_a_quota_is_a_bucket_per_subject() -> None:
    table = routes(rendered())
    config = table["shop.user.v2.UserService/VerifyEmail"]["typed_per_filter_config"][
        "envoy.filters.http.local_ratelimit"
    ]
    assert config["rate_limits"] == [
        {
            "actions": [
                {"request_headers": {"header_name": SUBJECT_HEADER, "descriptor_key": "client"}}
            ]
        }
    ]
    assert config["descriptors"][0]["token_bucket"] == {
        "max_tokens": 5,
        "tokens_per_fill": 5,
        "fill_interval": "60s",
    }
    assert config["enable_x_ratelimit_headers"] == "DRAFT_VERSION_03"


def test_upstreams_are_health_checked_soon_after_start() -> None:
    cluster = rendered()["static_resources"]["clusters"][0]
    check = cluster["health_checks"][0]
    assert "grpc_health_check" in check
    assert check["no_traffic_healthy_interval"] == "2s"  # Envoy's default is a minute
    # A host out of rotation (a restarted one) is checked more often than a healthy one.
    assert check["unhealthy_interval"] == check["no_traffic_interval"] == "0.5s"
    assert check["interval"] == "2s"  # what the replicas' shutdown delay is made of
    assert cluster["outlier_detection"]["consecutive_5xx"] == 5
    assert cluster["circuit_breakers"]["thresholds"][0]["max_retries"] == 3


def test_envoy_opens_a_connection_per_few_calls_so_server_processes_share_the_load() -> None:
    """A replica's server processes share a port; the kernel spreads connections, not calls."""
    cluster = rendered()["static_resources"]["clusters"][0]
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["explicit_http_config"]["http2_protocol_options"] == {
        "max_concurrent_streams": 4
    }


@pytest.mark.parametrize("environment", ["local", "compose"])
def test_the_admin_interface_listens_on_loopback_only(environment: str) -> None:
    admin = rendered(environment=environment)["admin"]["address"]["socket_address"]
    assert admin == {"address": "127.0.0.1", "port_value": 9901}


def test_in_containers_the_edge_listens_on_all_interfaces_and_resolves_services_by_name() -> None:
    config = rendered(environment="compose")
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener["address"] == "0.0.0.0"
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert clusters["user"]["type"] == "STRICT_DNS"

    def addresses(cluster: dict[str, Any]) -> list[dict[str, Any]]:
        endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        return [e["endpoint"]["address"]["socket_address"] for e in endpoints]

    assert addresses(clusters["user"]) == [{"address": "user", "port_value": 50051}]
    assert addresses(clusters["order"]) == [
        {"address": "order-1", "port_value": 50052},
        {"address": "order-2", "port_value": 50052},
    ]


def test_cors_allows_exactly_the_registry_origins() -> None:
    host = manager(rendered())["route_config"]["virtual_hosts"][0]
    cors = host["typed_per_filter_config"]["envoy.filters.http.cors"]
    origins = [match["exact"] for match in cors["allow_origin_string_match"]]
    assert origins == BASE["edge"]["cors"]["allowed_origins"]
