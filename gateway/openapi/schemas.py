"""Proto types → JSON Schema (OpenAPI 3.1), as proto3's JSON mapping prints and parses them.

int64 and uint64 travel as strings, bytes as base64, enums by name,
Timestamp as RFC 3339, Duration as seconds with an `s` ("1.5s"), wrappers
as their bare value (or null), Struct/Value/ListValue as free JSON. Every
message becomes one named component (`shop.user.v1.User`), referenced
where it is used; properties carry the proto field names, which replies use
(the edge prints them) and requests accept besides the lowerCamelCase JSON
names. A field's proto comment, its `Constraints:` included, is its description.

`required` says what a client can count on or must send:
- a field whose comment starts its constraints with "required", or marked
  `(google.api.field_behavior) = REQUIRED`, must be sent (the service
  refuses the call without it); OUTPUT_ONLY and INPUT_ONLY fields are
  `readOnly` and `writeOnly`;
- in messages only replies carry, every field without presence (scalars,
  enums, repeated fields and maps) is always printed, because the edge
  prints fields at their default value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from gateway.openapi.contracts import Contracts, Message

Schema = dict[str, Any]
FieldProto = descriptor_pb2.FieldDescriptorProto
REF_PREFIX = "#/components/schemas/"
_REQUIRED = re.compile(r"^Constraints:\s*required\b", re.MULTILINE)
_INT64 = {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"}
_BYTES = {"type": "string", "format": "byte", "contentEncoding": "base64"}
_SCALARS: dict[int, Schema] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldProto.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    FieldProto.TYPE_FIXED32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    FieldProto.TYPE_INT64: _INT64,
    FieldProto.TYPE_SINT64: _INT64,
    FieldProto.TYPE_SFIXED64: _INT64,
    FieldProto.TYPE_UINT64: _UINT64,
    FieldProto.TYPE_FIXED64: _UINT64,
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: _BYTES,
}
_WRAPPED = {
    "DoubleValue": _SCALARS[FieldProto.TYPE_DOUBLE],
    "FloatValue": _SCALARS[FieldProto.TYPE_FLOAT],
    "Int64Value": _INT64,
    "UInt64Value": _UINT64,
    "Int32Value": _SCALARS[FieldProto.TYPE_INT32],
    "UInt32Value": _SCALARS[FieldProto.TYPE_UINT32],
    "BoolValue": {"type": "boolean"},
    "StringValue": {"type": "string"},
    "BytesValue": _BYTES,
}
# The well-known types have a JSON form of their own, not their fields.
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, UTC ('Z'), e.g. 2024-01-02T03:04:05.678Z",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with up to nine decimals and an 's', e.g. 1.5s",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths in lowerCamelCase, e.g. displayName,email",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value"},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "properties": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
        "description": "A message of the type its @type URL names, with that type's fields",
    },
    **{
        f"google.protobuf.{name}": {**schema, "type": [schema["type"], "null"]}
        for name, schema in _WRAPPED.items()
    },
}
_NULL_VALUE = "google.protobuf.NullValue"


def required_by_constraints(comment: str) -> bool:
    return bool(_REQUIRED.search(comment))


def is_map(message: Message) -> bool:
    return message.proto.options.map_entry


@dataclass
class SchemaBuilder:
    """Builds the components the document needs; `reply_only` names messages only replies use."""

    contracts: Contracts
    reply_only: frozenset[str] = frozenset()
    components: dict[str, Schema] = field(default_factory=dict)

    def reference(self, type_name: str) -> Schema:
        """A message or enum as a schema: inline for a well-known type, else a $ref."""
        name = type_name.lstrip(".")
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        if name == _NULL_VALUE:
            return {"type": "null"}
        if name not in self.components:
            self.components[name] = {}  # placed first: a recursive message refers to itself
            if name in self.contracts.enums:
                self.components[name] = self._enum(name)
            else:
                self.components[name] = self.message(self.contracts.message(name))
        return {"$ref": REF_PREFIX + name}

    def message(self, message: Message, leave_out: frozenset[str] = frozenset()) -> Schema:
        """The message as an object schema, without the fields in `leave_out`."""
        properties: dict[str, Schema] = {}
        required: list[str] = []
        oneofs = _real_oneofs(message)
        for item in message.proto.field:
            if item.name in leave_out:
                continue
            comment = message.field_comments.get(item.name, "")
            properties[item.name] = self.field(item, comment, oneofs)
            if self._is_required(message, item, comment, oneofs):
                required.append(item.name)
        schema: Schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if message.comment:
            schema["description"] = message.comment
        return schema

    def field(
        self, item: FieldProto, comment: str = "", oneofs: dict[int, str] | None = None
    ) -> Schema:
        schema = self._value(item)
        if item.label == FieldProto.LABEL_REPEATED and not self._is_map_field(item):
            schema = {"type": "array", "items": schema}
        notes = [comment] if comment else []
        group = (oneofs or {}).get(item.oneof_index) if item.HasField("oneof_index") else None
        if group is not None:
            notes.append(f"One of `{group}`: set at most one of its fields.")
        if notes:
            schema = _described(schema, "\n\n".join(notes))
        behaviors = _behaviors(item)
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            schema["readOnly"] = True
        if field_behavior_pb2.INPUT_ONLY in behaviors:
            schema["writeOnly"] = True
        return schema

    def _value(self, item: FieldProto) -> Schema:
        if item.type == FieldProto.TYPE_ENUM:
            return self.reference(item.type_name)
        if item.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP):
            if self._is_map_field(item):
                entry = self.contracts.message(item.type_name).proto
                value = next(f for f in entry.field if f.name == "value")
                return {"type": "object", "additionalProperties": self._value(value)}
            return self.reference(item.type_name)
        return dict(_SCALARS[item.type])

    def _is_map_field(self, item: FieldProto) -> bool:
        return (
            item.type == FieldProto.TYPE_MESSAGE
            and item.label == FieldProto.LABEL_REPEATED
            and is_map(self.contracts.message(item.type_name))
        )

    def _is_required(
        self, message: Message, item: FieldProto, comment: str, oneofs: dict[int, str]
    ) -> bool:
        if required_by_constraints(comment) or field_behavior_pb2.REQUIRED in _behaviors(item):
            return True
        if message.name not in self.reply_only:
            return False
        in_oneof = item.HasField("oneof_index") and item.oneof_index in oneofs
        has_presence = (
            item.proto3_optional
            or in_oneof
            or (item.type == FieldProto.TYPE_MESSAGE and item.label != FieldProto.LABEL_REPEATED)
        )
        return not has_presence

    def _enum(self, name: str) -> Schema:
        enum = self.contracts.enum(name)
        values = [value.name for value in enum.proto.value]
        lines = [enum.comment] if enum.comment else []
        lines += [f"- `{value}`: {text}" for value, text in enum.value_comments.items() if text]
        schema: Schema = {"type": "string", "enum": values}
        if lines:
            schema["description"] = "\n".join(lines)
        return schema


def _behaviors(item: FieldProto) -> list[int]:
    """The field's `google.api.field_behavior` annotations (none unless its proto has them)."""
    return list(item.options.Extensions[field_behavior_pb2.field_behavior])


def _real_oneofs(message: Message) -> dict[int, str]:
    """Oneofs a client sees: not the synthetic ones proto3 `optional` makes."""
    synthetic = {f.oneof_index for f in message.proto.field if f.proto3_optional}
    return {
        index: oneof.name
        for index, oneof in enumerate(message.proto.oneof_decl)
        if index not in synthetic
    }


def _described(schema: Schema, description: str) -> Schema:
    """A $ref beside a description is valid in 3.1; a description given twice is joined."""
    if "description" in schema:
        description = f"{description}\n\n{schema['description']}"
    return {**schema, "description": description}
