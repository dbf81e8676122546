"""The RPCs the contracts define, read from the descriptor set, to check the registry by.

Which methods may be retried is the contract's to say, not the registry's: a
method is idempotent when its proto declares `idempotency_level`
(NO_SIDE_EFFECTS or IDEMPOTENT), or else when its `google.api.http` verb is
one HTTP calls idempotent (GET, PUT, DELETE). A POST or PATCH is not, so a
registry that asks the edge to retry one is wrong, and says so.

Every RPC the edge exposes needs an end-user policy (`auth`), after
defaults → service → method inheritance: which RPCs a proto service has is
the contract's to say, so this is where a route without one is found. An
`{owner: field}` policy must name a string field of the RPC's request. A
streaming RPC cannot be exposed: the services enforce policies on unary ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from protomesh.registry.events import check_event_types
from protomesh.registry.model import AUTH_FORMS, OWNER

if TYPE_CHECKING:
    from protomesh.registry.model import Mesh

IDEMPOTENT_VERBS = ("get", "put", "delete")
_VERBS = ("get", "put", "post", "delete", "patch")
_LEVELS = descriptor_pb2.MethodOptions
_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING


@dataclass(frozen=True)
class Rpc:
    name: str
    idempotent: bool
    http: str | None  # "GET /v1/users/{user_id}", or None when it has no REST mapping
    string_fields: frozenset[str] = frozenset()  # the request's top-level string fields
    streaming: bool = False  # either side streams


@dataclass(frozen=True)
class RpcCatalogue:
    services: Mapping[str, Mapping[str, Rpc]]  # proto service → method name → Rpc
    source: str
    messages: frozenset[str] = frozenset()  # every top-level message's full name
    # The contracts themselves, for renderers that need the messages too (the
    # edge's strict JSON check); None for a catalogue built by hand.
    contracts: descriptor_pb2.FileDescriptorSet | None = field(
        default=None, compare=False, repr=False
    )

    @classmethod
    def load(cls, path: Path) -> RpcCatalogue:
        files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
        strings = {
            f".{file.package}.{message.name}": frozenset(
                f.name for f in message.field if f.type == _STRING
            )
            for file in files.file
            for message in file.message_type
        }
        services: dict[str, dict[str, Rpc]] = {}
        messages: set[str] = set()
        for file in files.file:
            prefix = f"{file.package}." if file.package else ""
            for service in file.service:
                name = prefix + service.name
                services[name] = {
                    m.name: _rpc(m, strings.get(m.input_type, frozenset())) for m in service.method
                }
            messages.update(prefix + message.name for message in file.message_type)
        return cls(services, str(path), frozenset(messages), files)


def _rpc(method: descriptor_pb2.MethodDescriptorProto, string_fields: frozenset[str]) -> Rpc:
    rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    http = f"{verb.upper()} {getattr(rule, verb)}" if verb in _VERBS else None
    level = method.options.idempotency_level
    if level != _LEVELS.IDEMPOTENCY_UNKNOWN:
        idempotent = level in (_LEVELS.NO_SIDE_EFFECTS, _LEVELS.IDEMPOTENT)
    else:
        idempotent = verb in IDEMPOTENT_VERBS
    streaming = method.client_streaming or method.server_streaming
    return Rpc(method.name, idempotent, http, string_fields, streaming)


def check_against(mesh: Mesh, catalogue: RpcCatalogue) -> list[str]:
    """Problems between the registry and the contracts, each naming its path in the file."""
    problems = check_event_types(mesh, catalogue.messages, catalogue.source)
    where_from = f"(not in {catalogue.source})"
    for service in mesh.services.values():
        for index, proto_service in enumerate(service.serves):
            if proto_service not in catalogue.services:
                problems.append(f"{service.path}.serves[{index}]: {proto_service} {where_from}")
        for key in service.callers:
            proto_service, _, method = key.partition("/")
            known = catalogue.services.get(proto_service) or {}
            if method != "*" and method not in known:
                problems.append(
                    f"{service.path}.callers.{key}: {proto_service} has no method {method}"
                )
        for key in service.limits.methods:
            proto_service, _, method = key.partition("/")
            if method != "*" and method not in (catalogue.services.get(proto_service) or {}):
                problems.append(
                    f"{service.path}.limits.methods.{key}: {proto_service} has no method {method}"
                )
    if mesh.edge is None:
        return problems
    problems += _check_access(mesh, catalogue)
    for key, policy in mesh.edge.routes.items():
        proto_service, _, method = key.partition("/")
        methods = catalogue.services.get(proto_service)
        if methods is None or not method:
            continue
        rpc = methods.get(method)
        if rpc is None:
            problems.append(f"edge.routes.{key}: {proto_service} has no method {method}")
        elif policy.retries and not rpc.idempotent:
            how = rpc.http or "no idempotency_level"
            problems.append(
                f"edge.routes.{key}.retries: {method} is not idempotent ({how}); retry only "
                "methods with GET, PUT or DELETE, or an idempotency_level"
            )
    return problems


def _check_access(mesh: Mesh, catalogue: RpcCatalogue) -> list[str]:
    """Every exposed RPC resolves to an end-user policy, and an owner names a request field."""
    assert mesh.edge is not None
    problems: list[str] = []
    for proto_service in mesh.edge.exposed:
        for rpc in catalogue.services.get(proto_service, {}).values():
            key = f"{proto_service}/{rpc.name}"
            access = mesh.edge.policy(proto_service, rpc.name).auth
            if rpc.streaming:
                problems.append(
                    f"edge.routes.{proto_service}: {rpc.name} streams, and end-user policies "
                    "are enforced on unary RPCs only (protomesh/interceptors/end_user_policy.py)"
                )
            elif access is None:
                problems.append(
                    f"edge.routes.{key}: no auth (deny by default); give it, or "
                    f"edge.routes.{proto_service}, one of {AUTH_FORMS}"
                )
            elif access.kind == OWNER and access.value not in rpc.string_fields:
                where = key if key in mesh.edge.routes else proto_service
                fields = ", ".join(sorted(rpc.string_fields)) or "none"
                problems.append(
                    f"edge.routes.{where}.auth.owner: {rpc.name}'s request has no string field "
                    f"{access.value} (its string fields: {fields})"
                )
    return problems
