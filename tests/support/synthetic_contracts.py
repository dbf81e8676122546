"""A small hand-built contract with what the project's own protos lack: maps,
well-known types, a recursive message, a `body` that names one field, and an
additional binding. For the strict JSON check's schema and scanner tests.

    POST /v1/gardens/{garden}/trees  body: "tree"   (a Tree)
    PUT  /v1/gardens/{garden}/tree   body: "*"      (a PlantRequest)
"""

from __future__ import annotations

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

GARDENS = "test.v1.Gardens"
FieldProto = descriptor_pb2.FieldDescriptorProto


def _message(name: str, *fields: FieldProto) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    message.field.extend(fields)
    return message


def _field(name: str, number: int, type_name: str = "", *, repeated: bool = False) -> FieldProto:
    field = FieldProto(name=name, number=number)
    field.label = FieldProto.LABEL_REPEATED if repeated else FieldProto.LABEL_OPTIONAL
    if type_name:
        field.type, field.type_name = FieldProto.TYPE_MESSAGE, type_name
    else:
        field.type = FieldProto.TYPE_STRING
    return field


def synthetic() -> descriptor_pb2.FileDescriptorSet:
    """One service whose request has maps, well-known types, recursion and two bindings."""
    tree = _message(
        "Tree",
        _field("label", 1),
        _field("children", 2, ".test.v1.Tree", repeated=True),
        _field("by_name", 3, ".test.v1.Tree.ByNameEntry", repeated=True),
        _field("tags", 4, ".test.v1.Tree.TagsEntry", repeated=True),
        _field("extra", 5, ".google.protobuf.Struct"),
        _field("planted", 6, ".google.protobuf.Timestamp"),
    )
    for entry, value in (("ByNameEntry", _field("value", 2, ".test.v1.Tree")), ("TagsEntry", None)):
        nested = _message(entry, _field("key", 1), value or _field("value", 2))
        nested.options.map_entry = True
        tree.nested_type.append(nested)
    request = _message("PlantRequest", _field("garden", 1), _field("tree", 2, ".test.v1.Tree"))
    method = descriptor_pb2.MethodDescriptorProto(
        name="Plant", input_type=".test.v1.PlantRequest", output_type=".test.v1.Tree"
    )
    rule = method.options.Extensions[annotations_pb2.http]
    rule.post, rule.body = "/v1/gardens/{garden}/trees", "tree"
    extra = rule.additional_bindings.add()
    extra.put, extra.body = "/v1/gardens/{garden}/tree", "*"
    service = descriptor_pb2.ServiceDescriptorProto(name=GARDENS.rsplit(".", 1)[1])
    service.method.append(method)
    file = descriptor_pb2.FileDescriptorProto(name="test/v1/tree.proto", package="test.v1")
    file.message_type.extend([tree, request])
    file.service.append(service)
    return descriptor_pb2.FileDescriptorSet(file=[file])
