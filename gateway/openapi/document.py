"""The OpenAPI 3.1 document of the edge: every REST binding of every RPC the edge exposes.

Which RPCs: those of the proto services listed under mesh.yaml's
`edge.routes` (the transcoder serves all methods of an exposed service),
with each method's route policy for its security. Nothing else is described,
so the document and the edge cannot disagree about what exists.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from gateway.openapi.bindings import BindingError, bindings
from gateway.openapi.contracts import Contracts, Method, reachable
from gateway.openapi.operations import (
    BEARER,
    ERRORS,
    IDEMPOTENCY_KEY,
    STATUS_SCHEMA,
    operation,
)
from gateway.openapi.schemas import REF_PREFIX, SchemaBuilder
from protomesh.registry import Mesh

OPENAPI_VERSION = "3.1.0"
TITLE = "protomesh"
DESCRIPTION = """\
The REST/JSON API of the protomesh edge, generated from the contracts' \
`google.api.http` annotations and the registry's edge routes.

Replies use the proto field names (`user_id`); requests accept them and the \
lowerCamelCase JSON names (`userId`). Fields at their default value are printed, \
enums as their names, 64-bit integers as strings. Unknown JSON body fields are \
ignored, unknown query parameters refused. Every error is a `google.rpc.Status`. \
Each operation names its gRPC method (`x-grpc-method`); the same methods are \
served as gRPC on the same port."""
_STATUS = {
    "type": "object",
    "description": "google.rpc.Status: the error, with typed details "
    "(google.rpc.BadRequest, ErrorInfo, ResourceInfo, PreconditionFailure, RetryInfo...).",
    "properties": {
        "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
        "message": {"type": "string", "description": "A developer-facing explanation."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
                "additionalProperties": True,
            },
        },
    },
    "required": ["code", "message", "details"],
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Repeating a call with the same key returns the first call's reply "
    "instead of doing it again. Reaches the service as gRPC metadata `idempotency-key`.",
}


def exposed_methods(mesh: Mesh, contracts: Contracts) -> list[Method]:
    """The methods the edge serves, in the registry's order of services."""
    edge = mesh.edge
    if edge is None:
        return []
    return [
        method
        for method in contracts.methods.values()
        if method.service in edge.exposed and mesh.server_of(method.service) is not None
    ]


def openapi_document(
    mesh: Mesh, contracts: Contracts, version: str | None = None
) -> dict[str, Any]:
    """The document; `version` is the API's (default: the protomesh package's)."""
    edge = mesh.edge
    methods = exposed_methods(mesh, contracts)
    all_bindings = [binding for method in methods for binding in bindings(method)]
    builder = SchemaBuilder(contracts, frozenset(_reply_only(contracts, methods)))
    bearer = edge is not None and edge.jwt is not None
    paths: dict[str, dict[str, Any]] = {}
    for binding in all_bindings:
        assert edge is not None  # no edge, no methods
        policy = edge.policy(binding.method.service, binding.method.proto.name)
        item = paths.setdefault(binding.path, {})
        if binding.verb in item:
            raise BindingError(f"{binding.verb.upper()} {binding.path} is bound twice")
        item[binding.verb] = operation(binding, policy, builder, bearer=bearer)
    components: dict[str, Any] = {
        "schemas": {**dict(sorted(builder.components.items())), STATUS_SCHEMA: _STATUS},
        "responses": {
            status: {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": REF_PREFIX + STATUS_SCHEMA}}},
            }
            for status, text in ERRORS.items()
        },
        "parameters": {IDEMPOTENCY_KEY: _IDEMPOTENCY_KEY},
    }
    if bearer:
        components["securitySchemes"] = {
            BEARER: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An ES256 token from the edge's issuer "
                "(locally: `protomesh token --sub alice`).",
            }
        }
    services = sorted({binding.method.service for binding in all_bindings})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": version or _package_version(),
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "the edge that serves this document"}],
        "tags": [_tag(name, contracts) for name in services],
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def operations_of(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation: what the tests compare with the edge."""
    return {
        (verb.upper(), path) for path, item in document.get("paths", {}).items() for verb in item
    }


def _reply_only(contracts: Contracts, methods: list[Method]) -> set[str]:
    requests = reachable(contracts, [method.proto.input_type for method in methods])
    replies = reachable(contracts, [method.proto.output_type for method in methods])
    return replies - requests


def _tag(service: str, contracts: Contracts) -> dict[str, str]:
    tag = {"name": service}
    if contracts.services.get(service):
        tag["description"] = contracts.services[service]
    return tag


def _package_version() -> str:
    try:
        return metadata.version("protomesh")
    except metadata.PackageNotFoundError:
        return "0.0.0"
