from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from protomesh.registry import DEFAULT_MESH_FILE, Mesh, RegistryError, load_mesh, parse_mesh

BASE: dict[str, Any] = {
    "trust_domain": "protomesh.local",
    "environments": ["local", "compose"],
    "infrastructure": {
        "postgres": {"port": {"local": 55432, "compose": 5432}},
        "nats": {
            "port": {"local": 54222, "compose": 4222},
            "monitor_port": {"local": 58222, "compose": 8222},
        },
    },
    "services": {
        "user": {
            "module": "services.user",
            "env_prefix": "USER_SERVICE_",
            "port": {"local": 50051, "compose": 50051},
            "database": {"schema": "users", "role": "user_svc"},
            "serves": ["shop.user.v1.UserService"],
            "depends_on": ["postgres"],
        }
    },
}


def mesh_with(change: Callable[[dict[str, Any]], None]) -> str:
    document = copy.deepcopy(BASE)
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


def problems_in(text: str) -> list[str]:
    with pytest.raises(RegistryError) as raised:
        parse_mesh(text)
    return raised.value.problems


def add_order_service(document: dict[str, Any], **fields: Any) -> None:
    document["services"]["order"] = {
        "module": "services.order",
        "env_prefix": "ORDER_SERVICE_",
        "port": {"local": 50052, "compose": 50052},
        **fields,
    }


def test_the_checked_in_mesh_describes_the_user_service() -> None:
    mesh = load_mesh(DEFAULT_MESH_FILE)
    user = mesh.services["user"]
    assert mesh.infrastructure["postgres"].ports == {"local": 55432, "compose": 5432}
    assert (user.module, user.env_prefix, user.ports["local"]) == (
        "services.user",
        "USER_SERVICE_",
        50051,
    )
    assert user.database is not None
    assert (user.database.schema, user.database.role) == ("users", "user_svc")
    assert user.serves == ("shop.user.v1.UserService", "shop.user.v2.UserService")
    assert mesh.infrastructure["nats"].ports == {"local": 54222, "compose": 4222}
    assert mesh.infrastructure["nats"].monitor_ports == {"local": 58222, "compose": 8222}
    assert mesh.start_order == (
        *("postgres", "nats", "smtp", "payments"),
        *("user", "reporting", "order", "bff"),
    )


def test_the_checked_in_mesh_runs_two_order_replicas_in_compose_on_one_port() -> None:
    """Each compose replica is a host of its own, so both listen on 50052."""
    order = load_mesh(DEFAULT_MESH_FILE).services["order"]
    assert order.addresses("local") == ["127.0.0.1:50052"]
    assert order.addresses("compose") == ["order-1:50052", "order-2:50052"]
    assert order.database is not None
    assert (order.database.schema, order.database.role) == ("orders", "order_svc")
    assert order.depends_on == ("postgres", "nats", "user", "payments")


def test_components_start_after_what_they_depend_on_whatever_the_file_order() -> None:
    def order_first(document: dict[str, Any]) -> None:
        user = document["services"].pop("user")
        add_order_service(document, depends_on=["user"])
        document["services"]["user"] = user

    mesh: Mesh = parse_mesh(mesh_with(order_first))
    assert mesh.start_order == ("postgres", "nats", "user", "order")


def test_an_unknown_key_is_named_with_a_suggestion() -> None:
    text = mesh_with(lambda d: d["services"]["user"].update(prot=1))
    assert problems_in(text) == ["services.user.prot: unknown key (did you mean port?)"]


def test_a_port_used_twice_in_one_environment_names_its_owner() -> None:
    text = mesh_with(lambda d: d["services"]["user"]["port"].update(local=55432))
    assert problems_in(text) == [
        "services.user.port.local: 55432 is already used by infrastructure.postgres"
    ]


def test_the_same_port_in_different_environments_is_fine() -> None:
    mesh = parse_mesh(mesh_with(lambda d: d["services"]["user"]["port"].update(compose=55432)))
    assert mesh.services["user"].ports["compose"] == 55432


def test_depends_on_must_name_a_component() -> None:
    text = mesh_with(lambda d: d["services"]["user"].update(depends_on=["postgress"]))
    assert problems_in(text) == [
        "services.user.depends_on[0]: postgress names no component (did you mean postgres?)",
        "services.user.database: needs postgres in depends_on",
    ]


def test_a_missing_required_key_is_named() -> None:
    text = mesh_with(lambda d: d["services"]["user"].pop("module"))
    assert problems_in(text) == ["services.user.module: required but missing"]


def test_every_environment_needs_a_port() -> None:
    text = mesh_with(lambda d: d["services"]["user"]["port"].pop("compose"))
    assert problems_in(text) == ["services.user.port.compose: required but missing"]


@pytest.mark.parametrize("port", ["http", 0, 70000, True])
def test_a_port_is_a_number_from_1_to_65535(port: object) -> None:
    text = mesh_with(lambda d: d["infrastructure"]["postgres"]["port"].update(local=port))
    assert problems_in(text) == [
        f"infrastructure.postgres.port.local: {port!r} is not a port number (1-65535)"
    ]


def test_only_infrastructure_the_cluster_can_run_is_accepted() -> None:
    text = mesh_with(lambda d: d["infrastructure"].update(redis={"port": {"local": 6379}}))
    assert problems_in(text) == [
        "infrastructure.redis: unknown key (expected one of: postgres, nats, smtp, payments)"
    ]


def test_nats_needs_a_monitor_port_distinct_from_the_others() -> None:
    assert problems_in(mesh_with(lambda d: d["infrastructure"]["nats"].pop("monitor_port"))) == [
        "infrastructure.nats.monitor_port: required but missing"
    ]
    text = mesh_with(lambda d: d["infrastructure"]["nats"]["monitor_port"].update(local=54222))
    assert problems_in(text) == [
        "infrastructure.nats.monitor_port.local: 54222 is already used by infrastructure.nats"
    ]


def replicated_order(compose_ports: list[int]) -> Callable[[dict[str, Any]], None]:
    """The order service with one local replica and one compose replica per port given."""

    def change(document: dict[str, Any]) -> None:
        add_order_service(document)
        order = document["services"]["order"]
        del order["port"]
        first, *others = compose_ports
        order["replicas"] = [
            {"port": {"local": 50052, "compose": first}},
            *({"port": {"compose": port}} for port in others),
        ]

    return change


def test_replicas_in_containers_share_a_port_each_on_its_own_host() -> None:
    mesh = parse_mesh(mesh_with(replicated_order([50052, 50052])))
    assert mesh.services["order"].addresses("compose") == ["order-1:50052", "order-2:50052"]
    assert mesh.services["order"].addresses("local") == ["127.0.0.1:50052"]


def test_replicas_on_one_host_cannot_share_a_port() -> None:
    def two_local(document: dict[str, Any]) -> None:
        replicated_order([50052, 50052])(document)
        document["services"]["order"]["replicas"][1]["port"]["local"] = 50052

    assert problems_in(mesh_with(two_local)) == [
        "services.order.replicas[1].port.local: 50052 is already used by services.order.replicas[0]"
    ]


def test_a_container_port_may_repeat_on_another_host_but_not_on_its_own() -> None:
    mesh = parse_mesh(mesh_with(lambda d: d["services"]["user"]["port"].update(compose=5432)))
    assert mesh.services["user"].addresses("compose") == ["user:5432"]
    text = mesh_with(lambda d: d["infrastructure"]["nats"]["monitor_port"].update(compose=4222))
    assert problems_in(text) == [
        "infrastructure.nats.monitor_port.compose: 4222 is already used by infrastructure.nats"
    ]


def test_values_are_checked_against_what_they_name() -> None:
    def break_values(document: dict[str, Any]) -> None:
        user = document["services"]["user"]
        user["env_prefix"] = "user_"
        user["serves"] = ["UserService"]
        user["database"]["schema"] = "Users; DROP"

    assert problems_in(mesh_with(break_values)) == [
        "services.user.env_prefix: 'user_' is not a prefix like USER_SERVICE_",
        "services.user.database.schema: 'Users; DROP' is not a lower-case SQL name",
        "services.user.serves[0]: 'UserService' is not a proto service like "
        "shop.user.v1.UserService",
    ]


def test_two_services_cannot_own_one_schema_or_role() -> None:
    text = mesh_with(
        lambda d: add_order_service(
            d, database={"schema": "users", "role": "user_svc"}, depends_on=["postgres"]
        )
    )
    assert problems_in(text) == [
        "services.order.database.schema: users is already owned by services.user",
        "services.order.database.role: user_svc is already used by services.user",
    ]


def test_a_dependency_cycle_is_reported() -> None:
    def cycle(document: dict[str, Any]) -> None:
        add_order_service(document, depends_on=["user"])
        document["services"]["user"]["depends_on"].append("order")

    assert problems_in(mesh_with(cycle)) == ["services.user.depends_on: a cycle among user, order"]


def test_every_problem_is_reported_at_once() -> None:
    def many(document: dict[str, Any]) -> None:
        document.pop("trust_domain")
        document["services"]["user"].pop("env_prefix")
        document["services"]["user"]["port"]["local"] = "x"

    assert len(problems_in(mesh_with(many))) == 3


def test_a_service_written_twice_is_an_error_not_a_silent_override() -> None:
    text = "services:\n  user: {module: a}\n  user: {module: b}\n"
    assert problems_in(text) == ["line 3, column 3: duplicate key 'user'"]


def test_a_file_that_is_not_a_mapping_is_rejected() -> None:
    assert problems_in("- user\n") == ["top level: expected a mapping, got list"]


def test_the_telemetry_section_names_an_endpoint_per_environment() -> None:
    def change(document: dict[str, Any]) -> None:
        document["telemetry"] = {
            "otlp_endpoint": {"compose": "otel-collector:4317"},
            "receiver_port": {"local": 4317},
            "console_port": {"local": 8070},
            "sample_rate": 0.25,
        }

    telemetry = parse_mesh(mesh_with(change)).telemetry
    assert telemetry.otlp_endpoints == {"compose": "otel-collector:4317"}
    assert telemetry.receiver_ports == {"local": 4317}
    assert telemetry.console_ports == {"local": 8070}
    assert telemetry.sample_rate == 0.25
    assert parse_mesh(mesh_with(lambda d: None)).telemetry.otlp_endpoints == {}


def test_a_bad_telemetry_section_names_each_problem() -> None:
    def change(document: dict[str, Any]) -> None:
        document["telemetry"] = {
            "otlp_endpoint": {"compose": "no-port", "staging": "x:1"},
            "sample_rate": 2,
            "sample_rates": 1,
        }

    assert problems_in(mesh_with(change)) == [
        "telemetry.sample_rates: unknown key (did you mean sample_rate?)",
        "telemetry.otlp_endpoint.staging: unknown key (expected one of: local, compose)",
        "telemetry.otlp_endpoint.compose: 'no-port' is not host:port like otel-collector:4317",
        "telemetry.sample_rate: 2 is not a share between 0 and 1",
    ]


def test_a_metrics_port_belongs_to_its_process_alone() -> None:
    def change(document: dict[str, Any]) -> None:
        document["services"]["user"]["metrics_port"] = {"local": 9464, "compose": 50051}

    assert problems_in(mesh_with(change)) == [
        "services.user.metrics_port.compose: 50051 is already used by services.user"
    ]
    good = parse_mesh(mesh_with(lambda d: d["services"]["user"].update(metrics_port={"local": 1})))
    assert good.services["user"].replicas[0].metrics_ports == {"local": 1}
