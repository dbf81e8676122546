"""Envoy's tracer is rendered where the environment has an OTLP endpoint, and only there."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from gateway.config import FILES, render
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import DEFAULT_MESH_FILE, RpcCatalogue, parse_mesh

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)
BASE: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())


def rendered(environment: str, telemetry: Any, otlp_endpoint: str | None = None) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document["telemetry"] = telemetry
    mesh = parse_mesh(yaml.safe_dump(document), catalogue=CATALOGUE)
    return render(mesh, environment, CATALOGUE, FILES[environment], otlp_endpoint=otlp_endpoint)


def tracing_of(config: dict[str, Any]) -> Any:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"].get("tracing")


def clusters(config: dict[str, Any]) -> dict[str, Any]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def test_an_environment_with_an_endpoint_gets_the_opentelemetry_tracer() -> None:
    telemetry = {"otlp_endpoint": {"compose": "otel-collector:4317"}, "sample_rate": 0.1}
    config = rendered("compose", telemetry)
    tracing = tracing_of(config)
    provider = tracing["provider"]
    assert provider["name"] == "envoy.tracers.opentelemetry"
    assert provider["typed_config"]["grpc_service"]["envoy_grpc"] == {"cluster_name": "otlp"}
    assert provider["typed_config"]["service_name"] == "edge"
    assert tracing["random_sampling"] == {"value": 10.0}
    assert tracing["spawn_upstream_span"] is True
    otlp = clusters(config)["otlp"]
    address = otlp["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "otel-collector", "port_value": 4317}
    assert otlp["type"] == "STRICT_DNS"


def test_an_environment_without_one_renders_no_tracer_unless_asked() -> None:
    telemetry = {"otlp_endpoint": {"compose": "otel-collector:4317"}}
    assert tracing_of(rendered("local", telemetry)) is None
    assert "otlp" not in clusters(rendered("local", telemetry))
    asked = rendered("local", telemetry, otlp_endpoint="127.0.0.1:4317")
    assert tracing_of(asked) is not None
    assert clusters(asked)["otlp"]["type"] == "STATIC"


def test_the_committed_compose_config_traces_and_the_local_one_does_not() -> None:
    envoy = DEFAULT_MESH_FILE.parent / "envoy"
    assert "envoy.tracers.opentelemetry" in (envoy / "compose.yaml").read_text()
    assert "envoy.tracers.opentelemetry" not in (envoy / "local.yaml").read_text()
