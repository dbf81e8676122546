"""What a JSON body may hold, per REST binding, read from the contracts.

The edge's strict JSON check (gateway/strict_json.lua) needs, for each
`google.api.http` binding with a body, the request message tree: which keys
each message accepts (its proto names and its json_names), and which of them
lead into another message. Everything else (scalars, enums, and the
well-known types whose JSON is not an object of their fields) takes any
value: the transcoder checks values, only keys are ours to check.

    schema = strict_schema(contracts, [("shop.user.v1.UserService", "CreateUser", True)])
    schema.bindings[0].pattern   # "^/v1/users$"
    schema.messages["shop.user.v1.CreateUserRequest"]["displayName"]   # ANYTHING
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

# Their JSON is anything (Struct, Value, ListValue, Any) or a scalar
# (Timestamp "2026-01-01T00:00:00Z", Duration "1.5s", wrappers, FieldMask).
OPEN_MESSAGES = frozenset(
    f"google.protobuf.{name}"
    for name in (
        "Struct",
        "Value",
        "ListValue",
        "Any",
        "Timestamp",
        "Duration",
        "FieldMask",
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
) | {"google.api.HttpBody"}  # a raw body, not JSON the transcoder parses
_VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{[^}=]+(?:=([^}]*))?\}")
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED


@dataclass(frozen=True)
class Kind:
    """What a JSON value may be: any value, or (an array of) objects of `message`."""

    message: str | None = None  # None: any value
    map_values: bool = False  # an object with any keys, each value a `message`


ANYTHING = Kind()


@dataclass(frozen=True)
class Binding:
    """One REST binding with a body: the request paths it matches and what its body may hold."""

    verb: str  # POST, PATCH...
    template: str  # /v1/orders/{order_id}:cancel
    rpc: str  # shop.order.v1.OrderService/CancelOrder
    body: Kind | None  # None: not checked (the route turned it off, or anything goes)
    field_path: str = ""  # where the body sits in the request: "" for `body: "*"`

    @property
    def pattern(self) -> str:
        return lua_pattern(self.template)

    @property
    def precedence(self) -> tuple[int, int, int]:
        """Like the transcoder: a custom verb first, then more literal segments first."""
        path, _, verb = _split_verb(self.template)
        literals = [s for s in _VARIABLE.sub("*", path).split("/") if s and "*" not in s]
        return (0 if verb else 1, -len(literals), -len(self.template))


@dataclass(frozen=True)
class StrictSchema:
    bindings: list[Binding]  # in the order a request path is matched against them
    messages: dict[str, dict[str, Kind]] = field(default_factory=dict)  # name → key → kind


def strict_schema(
    contracts: descriptor_pb2.FileDescriptorSet, rpcs: Iterable[tuple[str, str, bool]]
) -> StrictSchema:
    """The bindings of `rpcs` (proto service, method, strict?) and the messages they reach."""
    types = _message_types(contracts)
    methods = _methods(contracts)
    bindings: list[Binding] = []
    for proto_service, name, strict in rpcs:
        method = methods[f"{proto_service}/{name}"]
        request = method.input_type.lstrip(".")
        for rule in _rules(method.options.Extensions[annotations_pb2.http]):
            verb = rule.WhichOneof("pattern")
            if verb not in _VERBS or not rule.body:
                continue
            body, path = _body(types, request, rule.body)
            checked = body if strict and body.message is not None else None
            bindings.append(
                Binding(verb.upper(), getattr(rule, verb), f"{proto_service}/{name}", checked, path)
            )
    bindings.sort(key=lambda b: b.precedence)
    messages: dict[str, dict[str, Kind]] = {}
    for binding in bindings:
        if binding.body is not None and binding.body.message is not None:
            _collect(types, binding.body.message, messages)
    return StrictSchema(bindings, messages)


def lua_pattern(template: str) -> str:
    """A path template as an anchored Lua pattern: `/v1/users/{user_id}` → `^/v1/users/[^/]+$`.

    `*` is one segment, `**` any number of them; a variable matches what its
    own template (default `*`) matches. Every other character is a literal.
    """
    path, _, verb = _split_verb(template)
    path = _VARIABLE.sub(lambda m: m.group(1) or "*", path)
    segments = []
    for segment in path.split("/"):
        if segment == "**":
            segments.append(".*")
        elif segment == "*":
            segments.append("[^/]+")
        else:
            segments.append(_lua_literal(segment))
    return "^" + "/".join(segments) + (":" + _lua_literal(verb) if verb else "") + "$"


def _split_verb(template: str) -> tuple[str, str, str]:
    """`/v1/x/{id}:cancel` → ("/v1/x/{id}", ":", "cancel"); a colon inside `{...}` is no verb."""
    last = template.rsplit("/", 1)[-1]
    if ":" in _VARIABLE.sub("", last):
        return template.rpartition(":")
    return template, "", ""


def _lua_literal(text: str) -> str:
    # In a Lua pattern `%` before any non-alphanumeric character means that character.
    return re.sub(r"([^A-Za-z0-9])", r"%\1", text)


def _rules(rule: http_pb2.HttpRule) -> Iterator[http_pb2.HttpRule]:
    yield rule
    yield from rule.additional_bindings


def _body(
    types: dict[str, descriptor_pb2.DescriptorProto], request: str, selector: str
) -> tuple[Kind, str]:
    if selector == "*":
        return _message_kind(request), ""
    for candidate in types[request].field:
        if candidate.name == selector:
            return _field_kind(types, candidate), selector
    raise ValueError(f"{request} has no field {selector!r} (its google.api.http body)")


def _message_kind(name: str) -> Kind:
    return ANYTHING if name in OPEN_MESSAGES else Kind(name)


def _field_kind(
    types: dict[str, descriptor_pb2.DescriptorProto], proto: descriptor_pb2.FieldDescriptorProto
) -> Kind:
    if proto.type != _MESSAGE:
        return ANYTHING
    name = proto.type_name.lstrip(".")
    if name in OPEN_MESSAGES:
        return ANYTHING
    entry = types[name]
    if entry.options.map_entry:
        value = next(f for f in entry.field if f.number == 2)
        inner = _field_kind(types, value)
        return ANYTHING if inner.message is None else Kind(inner.message, map_values=True)
    # A repeated field is an array of what a single one would be: the check
    # walks arrays element by element, so the kind is the same.
    return _message_kind(name)


def _collect(
    types: dict[str, descriptor_pb2.DescriptorProto],
    name: str,
    messages: dict[str, dict[str, Kind]],
) -> None:
    if name in messages:
        return
    keys: dict[str, Kind] = {}
    messages[name] = keys  # before the fields: a message may contain itself
    for proto in types[name].field:
        kind = _field_kind(types, proto)
        for key in (proto.name, proto.json_name or _json_name(proto.name)):
            keys[key] = kind
        if kind.message is not None:
            _collect(types, kind.message, messages)


def _json_name(name: str) -> str:
    """protoc's json_name, for a descriptor set written without it: `unit_price` → `unitPrice`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _message_types(
    contracts: descriptor_pb2.FileDescriptorSet,
) -> dict[str, descriptor_pb2.DescriptorProto]:
    types: dict[str, descriptor_pb2.DescriptorProto] = {}

    def add(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}" if prefix else message.name
        types[name] = message
        for nested in message.nested_type:
            add(name, nested)

    for file in contracts.file:
        for message in file.message_type:
            add(file.package, message)
    return types


def _methods(
    contracts: descriptor_pb2.FileDescriptorSet,
) -> dict[str, descriptor_pb2.MethodDescriptorProto]:
    methods = {}
    for file in contracts.file:
        for service in file.service:
            name = f"{file.package}.{service.name}" if file.package else service.name
            methods.update({f"{name}/{method.name}": method for method in service.method})
    return methods
