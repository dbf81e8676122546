"""The edge's OpenAPI document, from the project's own contracts and mesh.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from gateway.config import FILES, render
from gateway.openapi.command import openapi_main
from gateway.openapi.contracts import Contracts
from gateway.openapi.document import openapi_document, operations_of
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import (
    DEFAULT_MESH_FILE,
    LOCAL,
    Mesh,
    RpcCatalogue,
    load_mesh,
    parse_mesh,
)

_VERBS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return load_mesh(catalogue=RpcCatalogue.load(DESCRIPTOR_SET))


@pytest.fixture(scope="module")
def document(mesh: Mesh) -> dict[str, Any]:
    return openapi_document(mesh, Contracts.load(DESCRIPTOR_SET))


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on the first problem


def edge_bindings(mesh: Mesh) -> set[tuple[str, str]]:
    """What the rendered edge serves over REST, read from its config and the descriptor set
    without the generator: the RPC routes, filtered by the transcoder's services, and each
    RPC's google.api.http rule with its additional bindings."""
    config = render(mesh, LOCAL, RpcCatalogue.load(DESCRIPTOR_SET), FILES[LOCAL])
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    typed = manager["typed_config"]
    (transcoder,) = (f for f in typed["http_filters"] if "transcoder" in f["name"])
    transcoded = set(transcoder["typed_config"]["services"])
    routes = typed["route_config"]["virtual_hosts"][0]["routes"]
    rpcs = {
        route["match"]["path"]
        for route in routes
        if "route" in route and route["match"].get("path", "").count("/") == 2
    }
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    served: set[tuple[str, str]] = set()
    for file in files.file:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            for method in service.method:
                if f"/{name}/{method.name}" not in rpcs or name not in transcoded:
                    continue
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                for each in (rule, *rule.additional_bindings):
                    verb = each.WhichOneof("pattern")
                    if verb in _VERBS:
                        path = re.sub(r"\{([^}=]+)=[^}]*\}", r"{\1}", getattr(each, verb))
                        served.add((verb.upper(), path))
    return served


def test_the_document_describes_exactly_the_routes_the_edge_serves(
    mesh: Mesh, document: dict[str, Any]
) -> None:
    served = edge_bindings(mesh)
    described = operations_of(document)
    assert served, "the edge serves no REST route: the comparison would prove nothing"
    assert served - described == set(), "routes of the edge missing from the document"
    assert described - served == set(), "operations the edge does not serve"


def test_each_operation_names_a_routed_rpc(mesh: Mesh, document: dict[str, Any]) -> None:
    assert mesh.edge is not None
    for item in document["paths"].values():
        for operation in item.values():
            service, method = operation["x-grpc-method"].strip("/").split("/")
            assert service in mesh.edge.exposed
            assert operation["operationId"] == f"{service}.{method}"


def test_a_route_that_needs_a_token_requires_bearer_and_the_others_accept_one(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    update = document["paths"]["/v1/users/{user_id}"]["patch"]  # protected: true
    get = document["paths"]["/v1/users/{user_id}"]["get"]
    assert update["security"] == [{"bearer": []}]
    assert get["security"] == [{}, {"bearer": []}]


def test_mutating_routes_take_an_idempotency_key_and_reads_do_not(
    document: dict[str, Any],
) -> None:
    key = {"$ref": "#/components/parameters/IdempotencyKey"}
    assert document["components"]["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"
    for item in document["paths"].values():
        for verb, operation in item.items():
            assert (key in operation.get("parameters", [])) == (verb != "get"), operation[
                "operationId"
            ]


def test_errors_are_google_rpc_status_under_the_mapped_codes(document: dict[str, Any]) -> None:
    status = document["components"]["schemas"]["google.rpc.Status"]
    assert set(status["properties"]) == {"code", "message", "details"}
    responses = document["paths"]["/v2/users"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "429", "503", "504"} <= set(responses)
    assert responses["409"] == {"$ref": "#/components/responses/409"}


def test_fields_replies_always_carry_are_required_and_constraints_are_described(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    user = schemas["shop.user.v2.User"]
    assert "user_id" in user["required"]  # printed even when empty
    assert "name" not in user["required"]  # a message: absent when unset
    create = schemas["shop.user.v2.CreateUserRequest"]
    assert create["required"] == ["email", "name"]  # "Constraints: required"
    assert "at most 254 characters" in create["properties"]["email"]["description"]


def test_summaries_and_descriptions_come_from_the_proto_comments(
    document: dict[str, Any],
) -> None:
    get = document["paths"]["/v2/users/{user_id}"]["get"]
    assert get["summary"] == "GetUser returns one user, or NOT_FOUND."
    tags = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert tags["shop.user.v2.UserService"].startswith("UserService owns customer accounts")


def test_query_parameters_are_the_fields_not_in_the_path(document: dict[str, Any]) -> None:
    listing = document["paths"]["/v2/users"]["get"]
    names = [parameter["name"] for parameter in listing["parameters"]]
    assert names == ["page_size", "page_token", "email_verification"]


def test_a_service_left_out_of_the_edge_routes_is_left_out_of_the_document() -> None:
    document = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    routes = document["edge"]["routes"]
    for key in [key for key in routes if key.startswith("shop.order.")]:
        del routes[key]
    mesh = parse_mesh(yaml.safe_dump(document), "test mesh", RpcCatalogue.load(DESCRIPTOR_SET))
    described = operations_of(openapi_document(mesh, Contracts.load(DESCRIPTOR_SET)))
    assert described == edge_bindings(mesh)
    order_paths = ("/v1/orders", "/v1/customers/{customer_id}/orders")
    assert not [path for _, path in described if path.startswith(order_paths)]
    assert ("GET", "/v1/users/{user_id}") in described


def test_the_command_writes_the_document(tmp_path: Path, document: dict[str, Any]) -> None:
    target = tmp_path / "openapi.json"
    assert openapi_main(["--output", str(target)]) == 0
    assert json.loads(target.read_text()) == document
