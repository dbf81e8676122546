"""One OpenAPI operation per REST binding: parameters, request body, replies, security.

- Path variables are path parameters; with `body: "*"` every other field is
  the JSON body; with `body: "field"` that field is; every field left over
  (all of them without a body) is a query parameter, nested ones by their
  dotted path (`name.given_name=Ada`), repeated ones by repeating the name.
- Replies: 200 with the response message; errors as `google.rpc.Status`
  under every HTTP status the edge maps a gRPC code (or its own refusal) to.
- Routes that require a token say so (bearer JWT); the others verify a token
  when one is sent, which OpenAPI writes as an optional requirement.
- Mutating routes (not GET) take an `Idempotency-Key` header.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import descriptor_pb2

from gateway.openapi.bindings import Binding, BindingError
from gateway.openapi.contracts import Contracts, Message
from gateway.openapi.schemas import WELL_KNOWN, Schema, SchemaBuilder, required_by_constraints
from protomesh.registry import Policy

FieldProto = descriptor_pb2.FieldDescriptorProto
BEARER = "bearer"
IDEMPOTENCY_KEY = "IdempotencyKey"
STATUS_SCHEMA = "google.rpc.Status"
# HTTP status → what answers with it: the transcoder's mapping of the services'
# gRPC codes, and Envoy's own refusals (docs/edge.md, "Errors").
ERRORS = {
    "400": "INVALID_ARGUMENT or FAILED_PRECONDITION; malformed JSON; an unknown query parameter",
    "401": "UNAUTHENTICATED: a missing (where required), expired or invalid token",
    "403": "PERMISSION_DENIED; a token for another audience",
    "404": "NOT_FOUND",
    "409": "ALREADY_EXISTS or ABORTED",
    "413": "The request body is over the edge's limit",
    "429": "RESOURCE_EXHAUSTED: a rate limit or quota",
    "500": "INTERNAL or UNKNOWN",
    "501": "UNIMPLEMENTED",
    "503": "UNAVAILABLE: no healthy upstream, or the service is unavailable",
    "504": "DEADLINE_EXCEEDED: the route's timeout",
}
_NO_BODY = ("get", "delete")
# Query parameters hold single values: these fields cannot be one.
_NOT_IN_QUERY = {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
    "google.protobuf.Empty",
}
_MAX_QUERY_DEPTH = 4


def requires_token(policy: Policy) -> bool:
    """Whether the route refuses a call without a valid token (the registry decides it)."""
    return policy.requires_token


def operation(
    binding: Binding, policy: Policy, builder: SchemaBuilder, *, bearer: bool
) -> dict[str, Any]:
    """The operation for one binding; `bearer` when the edge checks tokens at all."""
    method = binding.method
    contracts = builder.contracts
    request = contracts.message(method.proto.input_type)
    operation: dict[str, Any] = {
        "operationId": _operation_id(binding),
        "tags": [method.service],
        "summary": _first_sentence(method.comment) or method.proto.name,
    }
    if method.comment:
        operation["description"] = method.comment
    parameters = _path_parameters(binding, request, builder)
    in_path = {variable.field_path for variable in binding.variables}
    if binding.body == "*":
        # A nested path field (`{shelf.name}`) leaves its message in the body.
        top_level = frozenset(path for path in in_path if "." not in path)
        body = builder.message(request, leave_out=top_level)
        required = "required" in body
        if not top_level:  # the whole request: name it, as its replies are
            body = builder.reference(request.name)
        operation["requestBody"] = _json_body(body, required=required)
    elif binding.body:
        item = _field(request, binding.body, binding)
        comment = request.field_comments.get(item.name, "")
        schema = builder.field(item, comment)
        operation["requestBody"] = _json_body(schema, required=required_by_constraints(comment))
        parameters += _query_parameters(request, in_path | {binding.body}, builder)
    else:
        parameters += _query_parameters(request, in_path, builder)
    if binding.verb != "get":
        parameters.append({"$ref": f"#/components/parameters/{IDEMPOTENCY_KEY}"})
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = _responses(binding, contracts, builder)
    if bearer:
        operation["security"] = [{BEARER: []}] if requires_token(policy) else [{}, {BEARER: []}]
    operation["x-grpc-method"] = method.grpc_path
    return operation


def _first_sentence(comment: str) -> str:
    paragraph = " ".join(comment.split("\n\n", 1)[0].split())
    sentence, period, _ = paragraph.partition(". ")
    return sentence + period.strip()


def _operation_id(binding: Binding) -> str:
    base = f"{binding.method.service}.{binding.method.proto.name}"
    return base if binding.index == 0 else f"{base}.{binding.index}"


def _path_parameters(
    binding: Binding, request: Message, builder: SchemaBuilder
) -> list[dict[str, Any]]:
    parameters = []
    for variable in binding.variables:
        *parents, leaf = variable.field_path.split(".")
        message = request
        for parent in parents:
            message = builder.contracts.message(_field(message, parent, binding).type_name)
        item = _field(message, leaf, binding)
        schema = builder.field(item)
        description = message.field_comments.get(leaf, "")
        if variable.pattern:
            schema["pattern"] = _segments_pattern(variable.pattern)
            description = f"{description}\n\nMatches `{variable.pattern}`.".strip()
        parameter: dict[str, Any] = {
            "name": variable.field_path,
            "in": "path",
            "required": True,
            "schema": schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _query_parameters(
    request: Message, leave_out: set[str], builder: SchemaBuilder
) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    _add_query(request, "", leave_out, builder, into=parameters, depth=0)
    return parameters


def _add_query(
    message: Message,
    prefix: str,
    leave_out: set[str],
    builder: SchemaBuilder,
    *,
    into: list[dict[str, Any]],
    depth: int,
) -> None:
    contracts = builder.contracts
    for item in message.proto.field:
        name, comment = prefix + item.name, message.field_comments.get(item.name, "")
        if name in leave_out:  # dotted: bound by the path or the body
            continue
        type_name = item.type_name.lstrip(".")
        repeated = item.label == FieldProto.LABEL_REPEATED
        if item.type == FieldProto.TYPE_MESSAGE and type_name not in WELL_KNOWN:
            if type_name in _NOT_IN_QUERY or repeated or depth >= _MAX_QUERY_DEPTH:
                continue
            nested = contracts.message(type_name)
            _add_query(nested, f"{name}.", leave_out, builder, into=into, depth=depth + 1)
            continue
        if type_name in _NOT_IN_QUERY or (repeated and item.type == FieldProto.TYPE_MESSAGE):
            continue
        parameter: dict[str, Any] = {"name": name, "in": "query", "schema": builder.field(item)}
        if repeated:
            parameter["explode"] = True
        if comment:
            parameter["description"] = comment
        if depth == 0 and required_by_constraints(comment):
            parameter["required"] = True
        into.append(parameter)


def _responses(binding: Binding, contracts: Contracts, builder: SchemaBuilder) -> dict[str, Any]:
    reply = contracts.message(binding.method.proto.output_type)
    if binding.response_body:
        item = _field(reply, binding.response_body, binding)
        schema = builder.field(item, reply.field_comments.get(item.name, ""))
    else:
        schema = builder.reference(reply.name)
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}}
    }
    for status in ERRORS:
        if status == "413" and binding.verb in _NO_BODY:
            continue
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    return responses


def _json_body(schema: Schema, *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _field(message: Message, name: str, binding: Binding) -> FieldProto:
    for item in message.proto.field:
        if item.name == name:
            return item
    raise BindingError(f"{binding.method.grpc_path}: {message.name} has no field {name!r}")


def _segments_pattern(pattern: str) -> str:
    """A path variable's segment pattern as a regex: `*` one segment, `**` any number."""
    parts = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append(".*")
        elif segment == "*":
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))
    return "^" + "/".join(parts) + "$"
