"""A provider's contracts as a descriptor pool: look up methods, messages and fields by name.

Built from a descriptor set (`buf build`, `envoy/protomesh.binpb`), so the static check
reads exactly what the provider publishes, and the live check builds its requests and
reads the replies with the same descriptors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}
_VERSION = re.compile(r"\.v(\d+)\.")


def field_type(field: FieldDescriptor) -> str:
    """`string`, `repeated int32`, `message google.protobuf.Timestamp`, `enum shop.x.v1.State`."""
    if field.message_type is not None:
        named = f"message {field.message_type.full_name}"
    elif field.enum_type is not None:
        named = f"enum {field.enum_type.full_name}"
    else:
        named = _SCALARS[field.type]
    return f"repeated {named}" if field.is_repeated else named


def same_family(name: str, other: str) -> bool:
    """`shop.user.v1.UserService` and `shop.user.v2.UserService` are one API in two majors."""
    return name != other and _VERSION.sub(".v.", name) == _VERSION.sub(".v.", other)


@dataclass(frozen=True)
class ProviderSchema:
    pool: descriptor_pool.DescriptorPool
    services: tuple[str, ...]
    messages: tuple[str, ...]

    @classmethod
    def from_file(cls, path: Path) -> ProviderSchema:
        files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
        return cls.from_set(files)

    @classmethod
    def from_set(cls, files: descriptor_pb2.FileDescriptorSet) -> ProviderSchema:
        pool = descriptor_pool.DescriptorPool()
        services: list[str] = []
        messages: list[str] = []
        for file in files.file:
            pool.Add(file)
            prefix = f"{file.package}." if file.package else ""
            services.extend(prefix + service.name for service in file.service)
            messages.extend(prefix + message.name for message in file.message_type)
        return cls(pool, tuple(services), tuple(messages))

    def method(self, method: str) -> MethodDescriptor | None:
        service, _, name = method.partition("/")
        if service not in self.services:
            return None
        found: MethodDescriptor | None = self.pool.FindServiceByName(service).methods_by_name.get(
            name
        )
        return found

    def message(self, name: str) -> Descriptor | None:
        return self.pool.FindMessageTypeByName(name) if name in self.messages else None

    def other_majors_of_service(self, method: str) -> list[str]:
        service, _, name = method.partition("/")
        return [f"{other}/{name}" for other in self.services if same_family(service, other)]

    def other_majors_of_message(self, name: str) -> list[str]:
        return [other for other in self.messages if same_family(name, other)]

    def new_message(self, descriptor: Descriptor) -> Message:
        return message_factory.GetMessageClass(descriptor)()
