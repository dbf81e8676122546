"""The descriptor set, indexed for the OpenAPI generator: messages, enums, methods, comments.

It reads the serialized `FileDescriptorSet` that `buf build` writes (with
source info, so the proto comments come along) rather than the generated
Python modules: the descriptor set is what Envoy's transcoder serves from,
so the document describes exactly what the edge does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2

# Field numbers of the descriptor messages, as they appear in SourceCodeInfo paths.
_FILE_MESSAGES, _FILE_ENUMS, _FILE_SERVICES = 4, 5, 6
_MESSAGE_FIELDS, _MESSAGE_NESTED, _MESSAGE_ENUMS = 2, 3, 4
_ENUM_VALUES, _SERVICE_METHODS = 2, 2


@dataclass(frozen=True)
class Message:
    name: str  # fully qualified, without the leading dot: shop.user.v1.User
    proto: descriptor_pb2.DescriptorProto
    comment: str
    field_comments: dict[str, str]  # by field name


@dataclass(frozen=True)
class Enum:
    name: str
    proto: descriptor_pb2.EnumDescriptorProto
    comment: str
    value_comments: dict[str, str]


@dataclass(frozen=True)
class Method:
    service: str  # shop.user.v1.UserService
    proto: descriptor_pb2.MethodDescriptorProto
    comment: str

    @property
    def grpc_path(self) -> str:
        """The path gRPC (and the edge's route) uses: /shop.user.v1.UserService/GetUser."""
        return f"/{self.service}/{self.proto.name}"


@dataclass
class Contracts:
    messages: dict[str, Message] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)  # service name → its comment
    methods: dict[str, Method] = field(default_factory=dict)  # by gRPC path

    @classmethod
    def load(cls, path: Path) -> Contracts:
        return cls.parse(path.read_bytes())

    @classmethod
    def parse(cls, serialized: bytes) -> Contracts:
        contracts = cls()
        for file in descriptor_pb2.FileDescriptorSet.FromString(serialized).file:
            contracts._add_file(file)
        return contracts

    def message(self, type_name: str) -> Message:
        """By a field's `type_name` (`.shop.user.v1.User`) or the plain full name."""
        return self.messages[type_name.lstrip(".")]

    def enum(self, type_name: str) -> Enum:
        return self.enums[type_name.lstrip(".")]

    def _add_file(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        comments = {
            tuple(location.path): _comment(location)
            for location in file.source_code_info.location
            if location.leading_comments or location.trailing_comments
        }
        prefix = f"{file.package}." if file.package else ""
        for index, message in enumerate(file.message_type):
            self._add_message(prefix, message, (_FILE_MESSAGES, index), comments)
        for index, enum in enumerate(file.enum_type):
            self._add_enum(prefix, enum, (_FILE_ENUMS, index), comments)
        for index, service in enumerate(file.service):
            where = (_FILE_SERVICES, index)
            name = prefix + service.name
            self.services[name] = comments.get(where, "")
            for number, method in enumerate(service.method):
                found = Method(name, method, comments.get((*where, _SERVICE_METHODS, number), ""))
                self.methods[found.grpc_path] = found

    def _add_message(
        self,
        prefix: str,
        message: descriptor_pb2.DescriptorProto,
        where: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        name = prefix + message.name
        fields = {
            item.name: comments.get((*where, _MESSAGE_FIELDS, index), "")
            for index, item in enumerate(message.field)
        }
        self.messages[name] = Message(name, message, comments.get(where, ""), fields)
        for index, nested in enumerate(message.nested_type):
            self._add_message(f"{name}.", nested, (*where, _MESSAGE_NESTED, index), comments)
        for index, enum in enumerate(message.enum_type):
            self._add_enum(f"{name}.", enum, (*where, _MESSAGE_ENUMS, index), comments)

    def _add_enum(
        self,
        prefix: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        where: tuple[int, ...],
        comments: dict[tuple[int, ...], str],
    ) -> None:
        values = {
            value.name: comments.get((*where, _ENUM_VALUES, index), "")
            for index, value in enumerate(enum.value)
        }
        self.enums[prefix + enum.name] = Enum(
            prefix + enum.name, enum, comments.get(where, ""), values
        )


def _comment(location: descriptor_pb2.SourceCodeInfo.Location) -> str:
    """The comment as a paragraph-preserving text: the `//` prefixes' single spaces removed."""
    text = location.leading_comments or location.trailing_comments
    lines = [line[1:] if line.startswith(" ") else line for line in text.splitlines()]
    return "\n".join(line.rstrip() for line in lines).strip()


def reachable(contracts: Contracts, roots: list[str]) -> set[str]:
    """The messages these messages contain, at any depth, themselves included."""
    seen: set[str] = set()
    pending = [root.lstrip(".") for root in roots]
    while pending:
        name = pending.pop()
        if name in seen or name not in contracts.messages:
            continue
        seen.add(name)
        pending.extend(
            item.type_name.lstrip(".")
            for item in contracts.messages[name].proto.field
            if item.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
        )
    return seen
