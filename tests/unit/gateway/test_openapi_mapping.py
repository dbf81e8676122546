"""Proto → OpenAPI on a contract made for the purpose: every binding and JSON type the
project's own protos do not use yet."""

from __future__ import annotations

from typing import Any

import pytest
from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

from gateway.openapi.bindings import BindingError, bindings
from gateway.openapi.contracts import Contracts
from gateway.openapi.operations import operation
from gateway.openapi.schemas import SchemaBuilder
from protomesh.registry import Access, Policy

F = descriptor_pb2.FieldDescriptorProto
OPEN = Policy(timeout=1.0, retries=0, auth=Access("public"))


def field(name: str, number: int, kind: F.Type.ValueType, **options: Any) -> F:
    return F(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL, **options)


def contracts(rule: http_pb2.HttpRule) -> Contracts:
    file = descriptor_pb2.FileDescriptorProto(name="t/v1/t.proto", package="t.v1", syntax="proto3")
    file.dependency.extend(["google/protobuf/timestamp.proto"])
    shelf = file.message_type.add(name="Shelf")
    shelf.field.extend(
        [field("name", 1, F.TYPE_STRING), field("theme", 2, F.TYPE_ENUM, type_name=".t.v1.Theme")]
    )
    book = file.message_type.add(name="Book")
    book.field.extend(
        [
            field("name", 1, F.TYPE_STRING),
            field("pages", 2, F.TYPE_INT64),
            field("cover", 3, F.TYPE_BYTES),
            field("published", 4, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"),
            field("loan", 5, F.TYPE_MESSAGE, type_name=".google.protobuf.Duration"),
            field("rating", 6, F.TYPE_MESSAGE, type_name=".google.protobuf.DoubleValue"),
            field("extra", 7, F.TYPE_MESSAGE, type_name=".google.protobuf.Struct"),
            F(name="tags", number=8, type=F.TYPE_STRING, label=F.LABEL_REPEATED),
            F(
                name="labels",
                number=9,
                type=F.TYPE_MESSAGE,
                label=F.LABEL_REPEATED,
                type_name=".t.v1.Book.LabelsEntry",
            ),
            field("isbn", 10, F.TYPE_STRING, oneof_index=0),
            field("issn", 11, F.TYPE_STRING, oneof_index=0),
            field("note", 12, F.TYPE_STRING, oneof_index=1, proto3_optional=True),
        ]
    )
    book.oneof_decl.add(name="code")
    book.oneof_decl.add(name="_note")
    entry = book.nested_type.add(name="LabelsEntry")
    entry.options.map_entry = True
    entry.field.extend([field("key", 1, F.TYPE_STRING), field("value", 2, F.TYPE_INT32)])
    request = file.message_type.add(name="UpdateBookRequest")
    request.field.extend(
        [
            field("shelf", 1, F.TYPE_MESSAGE, type_name=".t.v1.Shelf"),
            field("book", 2, F.TYPE_MESSAGE, type_name=".t.v1.Book"),
            field("force", 3, F.TYPE_BOOL),
        ]
    )
    theme = file.enum_type.add(name="Theme")
    theme.value.add(name="THEME_UNSPECIFIED", number=0)
    theme.value.add(name="THEME_POETRY", number=1)
    service = file.service.add(name="Library")
    method = service.method.add(
        name="UpdateBook", input_type=".t.v1.UpdateBookRequest", output_type=".t.v1.Book"
    )
    method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    location = file.source_code_info.location.add(path=[6, 0, 2, 0])
    location.leading_comments = " UpdateBook changes a book. It keeps its shelf.\n"
    files = descriptor_pb2.FileDescriptorSet(file=[file])
    return Contracts.parse(files.SerializeToString())


def one(rule: http_pb2.HttpRule, policy: Policy = OPEN) -> tuple[list[Any], SchemaBuilder]:
    found = contracts(rule)
    builder = SchemaBuilder(found, frozenset({"t.v1.Book"}))
    (method,) = found.methods.values()
    made = [operation(b, policy, builder, bearer=True) for b in bindings(method)]
    return made, builder


def test_body_field_the_rest_in_path_and_query_with_additional_bindings() -> None:
    rule = http_pb2.HttpRule(patch="/v1/{shelf.name=shelves/*}/books", body="book")
    rule.additional_bindings.add(put="/v1/books:update", body="*")
    (patch, put), _builder = one(rule)
    path, query = patch["parameters"][0], [p["name"] for p in patch["parameters"][1:-1]]
    assert (path["name"], path["in"], path["schema"]["pattern"]) == (
        "shelf.name",
        "path",
        "^shelves/[^/]+$",
    )
    assert query == ["shelf.theme", "force"]  # shelf.name is in the path, book in the body
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "t.v1.Book"
    )
    assert put["operationId"] == "t.v1.Library.UpdateBook.1"
    assert "$ref" in put["requestBody"]["content"]["application/json"]["schema"]
    assert patch["summary"] == "UpdateBook changes a book."


def test_proto3_json_types() -> None:
    _, builder = one(http_pb2.HttpRule(post="/v1/books", body="*"))
    book = builder.components["t.v1.Book"]["properties"]
    assert book["pages"]["type"] == "string"  # int64 travels as a string
    assert book["cover"]["contentEncoding"] == "base64"
    assert book["published"]["format"] == "date-time"
    assert book["loan"]["pattern"].endswith("s$")
    assert book["rating"]["type"] == ["number", "null"]
    assert book["extra"]["type"] == "object"
    assert book["tags"] == {"type": "array", "items": {"type": "string"}}
    assert book["labels"]["additionalProperties"]["format"] == "int32"
    assert "One of `code`" in book["isbn"]["description"]
    assert "One of" not in book.get("note", {}).get("description", "")
    assert builder.components["t.v1.Theme"]["enum"] == ["THEME_UNSPECIFIED", "THEME_POETRY"]


def test_a_reply_only_message_requires_what_is_always_printed() -> None:
    _, builder = one(http_pb2.HttpRule(post="/v1/books", body="*"))
    required = builder.components["t.v1.Book"]["required"]
    assert required == ["name", "pages", "cover", "tags", "labels"]


def test_without_a_body_every_leaf_field_is_a_query_parameter() -> None:
    (get,), _ = one(http_pb2.HttpRule(get="/v1/books"))
    names = [p["name"] for p in get["parameters"]]
    assert "book.pages" in names
    assert "book.published" in names
    assert "book.tags" in names
    assert "book.extra" not in names
    assert "book.labels" not in names
    assert get["security"] == [{}, {"bearer": []}]
    assert "requestBody" not in get


def test_response_body_sends_one_field_back() -> None:
    (get,), _ = one(http_pb2.HttpRule(get="/v1/books", response_body="tags"))
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"type": "string"}}


def test_a_protected_route_requires_a_token() -> None:
    (post,), _ = one(
        http_pb2.HttpRule(post="/v1/books", body="*"), Policy(1.0, 0, auth=Access("signed_in"))
    )
    assert post["security"] == [{"bearer": []}]


def test_a_custom_verb_is_refused() -> None:
    rule = http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="HEAD", path="/v1/books"))
    with pytest.raises(BindingError, match="custom HTTP verb"):
        one(rule)


def test_field_behavior_annotations_are_read_when_present() -> None:
    found = contracts(http_pb2.HttpRule(post="/v1/books", body="*"))
    shelf = found.message("t.v1.Shelf").proto
    name, theme = shelf.field
    name.options.Extensions[field_behavior_pb2.field_behavior].append(field_behavior_pb2.REQUIRED)
    theme.options.Extensions[field_behavior_pb2.field_behavior].append(
        field_behavior_pb2.OUTPUT_ONLY
    )
    builder = SchemaBuilder(found)
    builder.reference("t.v1.Shelf")
    schema = builder.components["t.v1.Shelf"]
    assert schema["required"] == ["name"]
    assert schema["properties"]["theme"]["readOnly"] is True
