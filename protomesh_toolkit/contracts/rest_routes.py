"""The REST contract: the google.api.http routes a stable package has published.

`buf breaking` never looks at google.api.http options, so moving
`/v1/users/{user_id}` to `/v1/people/{user_id}` passes it while every REST
client breaks. These functions compare the routes of two descriptor sets; they
are pure so tests can feed them descriptors built in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Importing annotations_pb2 registers the google.api.http extension, so parsed
# MethodOptions expose it instead of keeping it as unknown bytes. The wheel
# ships .pyi stubs but no py.typed marker, so mypy will not read them.
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

OWNED_PREFIX = "shop."
_STABLE_VERSION = re.compile(r"v\d+")
# `{user_id=*}` and `{user_id}` are the same template; only real changes count.
_SINGLE_SEGMENT_VARIABLE = re.compile(r"\{([^}=]+)=\*\}")


@dataclass(frozen=True, order=True)
class Route:
    """One HTTP binding of an RPC; any difference in these fields breaks REST clients."""

    verb: str
    path: str
    body: str = ""
    response_body: str = ""

    def __str__(self) -> str:
        text = f"{self.verb} {self.path}"
        if self.body:
            text += f' body "{self.body}"'
        if self.response_body:
            text += f' response_body "{self.response_body}"'
        return text


def read_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def is_stable(package: str) -> bool:
    """`shop.user.v1` is stable; `shop.user.v1alpha1`, `shop.user.v2beta` are not.

    Unstable packages exist to be changed, so their routes carry no promise.
    """
    return _STABLE_VERSION.fullmatch(package.rpartition(".")[2]) is not None


def _route(rule: http_pb2.HttpRule) -> Route | None:
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        return None
    if pattern == "custom":
        verb, path = rule.custom.kind, rule.custom.path
    else:
        verb, path = pattern.upper(), str(getattr(rule, pattern))
    return Route(verb, _SINGLE_SEGMENT_VARIABLE.sub(r"{\1}", path), rule.body, rule.response_body)


def method_routes(options: descriptor_pb2.MethodOptions) -> frozenset[Route]:
    """The main binding and its additional_bindings (which cannot nest further)."""
    if not options.HasExtension(annotations_pb2.http):
        return frozenset()
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    found = (_route(binding) for binding in (rule, *rule.additional_bindings))
    return frozenset(route for route in found if route is not None)


def routes_by_method(files: descriptor_pb2.FileDescriptorSet) -> dict[str, frozenset[Route]]:
    """Every RPC of our packages by full name, with its routes (none for a gRPC-only RPC).

    RPCs without routes are kept so a report can tell "the RPC is gone" from
    "the RPC lost its route".
    """
    return {
        f"{file.package}.{service.name}.{method.name}": method_routes(method.options)
        for file in files.file
        if file.package.startswith(OWNED_PREFIX)
        for service in file.service
        for method in service.method
    }


def route_violations(
    base: descriptor_pb2.FileDescriptorSet, current: descriptor_pb2.FileDescriptorSet
) -> list[str]:
    """One message per published route of a stable package that is gone or changed."""
    before = routes_by_method(base)
    after = routes_by_method(current)
    violations: list[str] = []
    for method, published in sorted(before.items()):
        package = method.rsplit(".", 2)[0]
        if not is_stable(package):
            continue
        now = after.get(method)
        for route in sorted(published - (now or frozenset())):
            violations.append(f"{method}: route {route} was removed{_instead(published, now)}")
    return violations


def _instead(published: frozenset[Route], now: frozenset[Route] | None) -> str:
    if now is None:
        return " (the RPC no longer exists)"
    if not now:
        return " (the RPC has no route now)"
    replacements = sorted(now - published)
    if not replacements:
        return ""
    return " (now " + ", ".join(str(route) for route in replacements) + ")"
