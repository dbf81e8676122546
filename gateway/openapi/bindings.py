"""An RPC's REST bindings, as the transcoder reads its `google.api.http` rule.

One binding per rule and one per `additional_bindings` entry. A path template
names request fields in braces: `{user_id}`, `{book.name}` (a nested field),
`{name=shelves/*/books/*}` (a field holding a multi-segment value). OpenAPI
paths know only simple names, so each variable becomes `{field.path}` and
its pattern, when it has one, goes into the parameter's description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2

from gateway.openapi.contracts import Method

VERBS = ("get", "put", "post", "delete", "patch")
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


class BindingError(Exception):
    """A rule the transcoder would not accept either (a custom verb, a broken template)."""


@dataclass(frozen=True)
class PathVariable:
    field_path: str  # dotted: book.name
    pattern: str | None  # shelves/*/books/*, or None for a single segment


@dataclass(frozen=True)
class Binding:
    method: Method
    verb: str  # lower case, as OpenAPI's path item keys
    template: str  # as written in the proto: /v1/users/{user_id}
    body: str  # "" (no body), "*" (the request minus path fields) or a field name
    response_body: str  # "" (the whole reply) or the one reply field sent back
    index: int  # 0 for the rule itself, 1.. for its additional_bindings

    @property
    def path(self) -> str:
        """The OpenAPI path: variables by their field path, patterns dropped."""
        return _VARIABLE.sub(lambda match: "{" + match.group(1) + "}", self.template)

    @property
    def variables(self) -> list[PathVariable]:
        return [PathVariable(m.group(1), m.group(2)) for m in _VARIABLE.finditer(self.template)]


def bindings(method: Method) -> list[Binding]:
    """Every REST binding of the method; none when it has no `google.api.http` option."""
    options = method.proto.options
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    found = [_binding(method, rule, 0)]
    for index, extra in enumerate(rule.additional_bindings, start=1):
        found.append(_binding(method, extra, index))
    return found


def _binding(method: Method, rule: http_pb2.HttpRule, index: int) -> Binding:
    verb = rule.WhichOneof("pattern")
    if verb == "custom":
        # OpenAPI has a fixed set of methods; a custom verb cannot be described.
        raise BindingError(f"{method.grpc_path}: custom HTTP verb {rule.custom.kind!r}")
    if verb not in VERBS:
        raise BindingError(f"{method.grpc_path}: a google.api.http rule without a path")
    template: str = getattr(rule, verb)
    if not template.startswith("/"):
        raise BindingError(f"{method.grpc_path}: path {template!r} does not start with /")
    return Binding(method, verb, template, rule.body, rule.response_body, index)
