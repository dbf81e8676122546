"""The edge's strict JSON filter: a Lua filter before the transcoder.

The transcoder drops JSON body fields its request message lacks (envoy#46623,
no option to refuse them), so a misspelt field reaches the service as a
missing one. This filter refuses such a body with 400 and a
`google.rpc.BadRequest` naming each unknown field's path (`items[0].skuu`).

Why Lua, and why one script for every route: the filter must read the JSON
before the transcoder, and before the transcoder a REST request matches no
route of its own (routes match the RPC's gRPC path, which the transcoder
sets), so per-route filter config cannot reach it. The script matches the
REST path itself, against the contracts' `google.api.http` bindings rendered
into it as Lua tables (gateway/strict_json_schema.py); a route whose policy
says `strict_json: false` is rendered as unchecked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.strict_json_schema import Binding, Kind, StrictSchema, strict_schema
from protomesh.registry import Edge, RpcCatalogue

LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
WITH_MATCHER = "type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher"
SKIP_FILTER = "type.googleapis.com/envoy.extensions.filters.common.matcher.action.v3.SkipFilter"
HEADER_INPUT = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput"
FILTER_NAME = "envoy.filters.http.lua.strict_json"
SCANNER = Path(__file__).with_name("strict_json.lua")


def strict_json_filter(edge: Edge, catalogue: RpcCatalogue) -> dict[str, Any] | None:
    """The filter, or None when no exposed route checks its body (nothing to run)."""
    if catalogue.contracts is None:
        raise ValueError("the strict JSON check needs the contracts (RpcCatalogue.load)")
    rpcs = [
        (proto_service, method, edge.policy(proto_service, method).strict_json is not False)
        for proto_service in edge.exposed
        for method in catalogue.services.get(proto_service, {})
    ]
    return lua_filter(strict_schema(catalogue.contracts, rpcs))


def lua_filter(schema: StrictSchema) -> dict[str, Any] | None:
    """The filter for `schema`, or None when it checks no binding."""
    if not any(binding.body is not None for binding in schema.bindings):
        return None
    lua = {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": LUA,
            "stat_prefix": "strict_json",
            "default_source_code": {"inline_string": lua_source(schema)},
        },
    }
    # Running a Lua script costs tens of µs a request however little it does:
    # requests that cannot carry a checked body (GETs, gRPC calls) skip it.
    verbs = sorted({b.verb for b in schema.bindings if b.body is not None})
    return {
        "name": FILTER_NAME,
        "typed_config": {
            "@type": WITH_MATCHER,
            "extension_config": lua,
            "xds_matcher": {"matcher_list": {"matchers": [_skip_unless_verb(verbs), _skip_grpc()]}},
        },
    }


def _header(name: str, match: dict[str, Any]) -> dict[str, Any]:
    source = {"name": name, "typed_config": {"@type": HEADER_INPUT, "header_name": name}}
    return {"single_predicate": {"input": source, "value_match": match}}


def _skip(predicate: dict[str, Any]) -> dict[str, Any]:
    action = {"name": "skip", "typed_config": {"@type": SKIP_FILTER}}
    return {"predicate": predicate, "on_match": {"action": action}}


def _skip_unless_verb(verbs: list[str]) -> dict[str, Any]:
    methods = [_header(":method", {"exact": verb}) for verb in verbs]
    any_of = methods[0] if len(methods) == 1 else {"or_matcher": {"predicate": methods}}
    return _skip({"not_matcher": any_of})


def _skip_grpc() -> dict[str, Any]:
    return _skip(_header("content-type", {"prefix": "application/grpc"}))


def lua_source(schema: StrictSchema) -> str:
    """The schema as Lua tables, then the scanner that reads them."""
    lines = ["local MESSAGES = {"]
    for name, keys in sorted(schema.messages.items()):
        entries = ", ".join(
            f"[{_lua_string(key)}] = {_lua_kind(kind)}" for key, kind in keys.items()
        )
        lines.append(f"  [{_lua_string(name)}] = {{{entries}}},")
    lines.append("}")
    lines.append("local BINDINGS = {")
    verbs: dict[str, list[Binding]] = {}
    for binding in schema.bindings:
        verbs.setdefault(binding.verb, []).append(binding)
    for verb, bindings in sorted(verbs.items()):
        lines.append(f"  {verb} = {{")
        for binding in bindings:
            kind = "false" if binding.body is None else _lua_kind(binding.body)
            pattern, field_path = _lua_string(binding.pattern), _lua_string(binding.field_path)
            lines.append(
                f"    {{{pattern}, {kind}, {field_path}}}, -- {binding.template} {binding.rpc}"
            )
        lines.append("  },")
    lines.append("}")
    return "\n".join(lines) + "\n" + SCANNER.read_text()


def _lua_kind(kind: Kind) -> str:
    if kind.message is None:
        return "true"
    name = _lua_string(kind.message)
    return f"{{{name}}}" if kind.map_values else name


def _lua_string(text: str) -> str:
    # Names and patterns from the contracts: no quotes, backslashes or newlines to escape,
    # but refuse rather than render a broken script if one ever has them.
    if any(c in text for c in '"\\\n'):
        raise ValueError(f"cannot render {text!r} into the strict JSON script")
    return f'"{text}"'
