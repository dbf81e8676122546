"""The `edge` section: Envoy's listener and the policy of every route it exposes.

A route is a proto service (`shop.user.v1.UserService`: exposed, with a
policy for all its methods) or one of its methods
(`shop.user.v1.UserService/GetUser`: a finer policy). Checks that need the
contracts themselves (does the method exist, is it idempotent) live in
`catalogue.py`; these need only the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from protomesh.registry.model import (
    AUTH_FORMS,
    OWNER,
    PUBLIC,
    ROLE,
    SIGNED_IN,
    Access,
    CircuitBreaker,
    Edge,
    Jwt,
    Policy,
    Quota,
    Service,
    TokenBucket,
)
from protomesh.registry.reading import PROTO_SERVICE, Reader, join, suggest

DEFAULT_TIMEOUT = 15.0  # Envoy's own route default
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_API_KEY_HEADER = "x-api-key"
DEFAULT_CONNECTION_LIFETIME = 600.0
DEFAULT_CIRCUIT_BREAKER = CircuitBreaker(
    max_connections=1024, max_pending_requests=1024, max_requests=1024, max_retries=3
)
QUOTA_CLIENTS = ("jwt_subject", "api_key")
_METHOD = re.compile(r"[A-Z][A-Za-z0-9]*")
_POLICY_KEYS = ("timeout", "retries", "auth", "rate_limit", "quota", "strict_json")
_FIELD = re.compile(r"[a-z][a-z0-9_]*")


def read_edge(
    reader: Reader, value: object, environments: tuple[str, ...], services: Mapping[str, Service]
) -> Edge:
    top = reader.mapping(
        value,
        "edge",
        ("port", "admin_port"),
        (
            "max_request_bytes",
            "cors",
            "api_key_header",
            "jwt",
            "circuit_breaker",
            "defaults",
            "routes",
            "connection_lifetime",
        ),
    )
    cors = reader.mapping(top.get("cors", {}), "edge.cors", (), ("allowed_origins",))
    jwt = None
    if "jwt" in top:
        raw = reader.mapping(top["jwt"], "edge.jwt", ("issuer", "audiences"))
        issuer, audiences = (
            reader.string(raw, "issuer", "edge.jwt"),
            reader.strings(raw, "audiences", "edge.jwt"),
        )
        if "audiences" in raw and not audiences:
            reader.fail("edge.jwt.audiences", "name at least one audience")
        jwt = Jwt(issuer, audiences) if issuer else None
    defaults = _policy(reader, top.get("defaults", {}), "edge.defaults")
    if defaults.auth is not None:
        reader.fail(
            "edge.defaults.auth",
            "no end-user policy by default (deny by default): give each route its own auth",
        )
    edge = Edge(
        ports=reader.ports(top.get("port"), "edge.port", environments),
        admin_ports=reader.ports(top.get("admin_port"), "edge.admin_port", environments),
        max_request_bytes=reader.count(top, "max_request_bytes", "edge", DEFAULT_MAX_REQUEST_BYTES),
        cors_origins=reader.strings(cors, "allowed_origins", "edge.cors"),
        api_key_header=reader.string(top, "api_key_header", "edge") or DEFAULT_API_KEY_HEADER,
        jwt=jwt,
        circuit_breaker=_circuit_breaker(reader, top.get("circuit_breaker", {})),
        defaults=defaults.over(Policy(timeout=DEFAULT_TIMEOUT, retries=0, strict_json=True)),
        routes=_routes(reader, top.get("routes", {}), services),
        connection_lifetime=reader.duration(top, "connection_lifetime", "edge")
        or DEFAULT_CONNECTION_LIFETIME,
    )
    _check_policies(reader, edge)
    return edge


def _circuit_breaker(reader: Reader, value: object) -> CircuitBreaker:
    path = "edge.circuit_breaker"
    names = ("max_connections", "max_pending_requests", "max_requests", "max_retries")
    raw = reader.mapping(value, path, (), names)
    default = DEFAULT_CIRCUIT_BREAKER
    return CircuitBreaker(
        *(reader.count(raw, name, path, getattr(default, name)) for name in names)
    )


def _routes(reader: Reader, value: object, services: Mapping[str, Service]) -> dict[str, Policy]:
    served = [name for service in services.values() for name in service.serves]
    routes: dict[str, Policy] = {}
    keys = reader.mapping(value, "edge.routes", (), None)
    for key, raw in keys.items():
        path = f"edge.routes.{key}"
        proto_service, _, method = str(key).partition("/")
        if not PROTO_SERVICE.fullmatch(proto_service) or (method and not _METHOD.fullmatch(method)):
            reader.fail(
                path,
                "a route is a proto service like shop.user.v1.UserService, "
                "or one of its methods like shop.user.v1.UserService/GetUser",
            )
        elif proto_service not in served:
            reader.fail(path, f"no service serves {proto_service}{suggest(proto_service, served)}")
        elif method and proto_service not in keys:
            reader.fail(path, f"{proto_service} is not exposed: add it to edge.routes first")
        else:
            routes[str(key)] = _policy(reader, raw, path)
    return routes


def _policy(reader: Reader, value: object, path: str) -> Policy:
    raw = reader.mapping(value if value is not None else {}, path, (), _POLICY_KEYS)
    quota = None
    if "quota" in raw:
        where = join(path, "quota")
        fields = reader.mapping(raw["quota"], where, ("by", "requests", "per"), ("burst",))
        client = fields.get("by")
        if "by" in fields and client not in QUOTA_CLIENTS:
            reader.fail(f"{where}.by", f"{client!r} is not one of {', '.join(QUOTA_CLIENTS)}")
        quota = Quota(str(client), _bucket(reader, fields, where))
    rate_limit = None
    if "rate_limit" in raw:
        where = join(path, "rate_limit")
        fields = reader.mapping(raw["rate_limit"], where, ("requests", "per"), ("burst",))
        rate_limit = _bucket(reader, fields, where)
    return Policy(
        timeout=reader.duration(raw, "timeout", path),
        retries=reader.count(raw, "retries", path, 0) if "retries" in raw else None,
        auth=_access(reader, raw["auth"], join(path, "auth")) if "auth" in raw else None,
        rate_limit=rate_limit,
        quota=quota,
        strict_json=reader.flag(raw, "strict_json", path),
    )


def _access(reader: Reader, value: object, path: str) -> Access | None:
    if value in (PUBLIC, SIGNED_IN):
        return Access(str(value))
    if isinstance(value, dict) and len(value) == 1:
        ((kind, name),) = value.items()
        if kind in (OWNER, ROLE) and isinstance(name, str) and _FIELD.fullmatch(name):
            return Access(kind, name)
        if kind in (OWNER, ROLE):
            what = "a request field like user_id" if kind == OWNER else "a role like admin"
            reader.fail(f"{path}.{kind}", f"{name!r} is not {what}")
            return None
    reader.fail(path, f"{value!r} is not one of {AUTH_FORMS}")
    return None


def _bucket(reader: Reader, fields: dict[Any, Any], path: str) -> TokenBucket:
    requests = reader.count(fields, "requests", path, 1)
    seconds = reader.duration(fields, "per", path) or 1.0
    burst = reader.count(fields, "burst", path, requests)
    if burst < requests:
        reader.fail(f"{path}.burst", f"{burst} is below requests ({requests}): no refill fits")
    if seconds < 0.001 or seconds * 1000 != int(seconds * 1000):
        reader.fail(f"{path}.per", "Envoy refills in whole milliseconds")
    return TokenBucket(requests, seconds, burst)


def _check_policies(reader: Reader, edge: Edge) -> None:
    """Rules between keys: they hold for each route as it resolves, defaults included."""
    for key in ("defaults", *edge.routes):
        proto_service, _, method = key.partition("/")
        if key == "defaults":
            path, policy = "edge.defaults", edge.defaults
        else:
            path, policy = f"edge.routes.{key}", edge.policy(proto_service, method)
        if policy.auth is not None and policy.requires_token and edge.jwt is None:
            reader.fail(path, f"auth: {policy.auth} needs edge.jwt (issuer and audiences)")
        quota = policy.quota
        if quota is not None and quota.client == "jwt_subject" and not policy.requires_token:
            reader.fail(
                join(path, "quota"),
                "a quota by jwt_subject needs a route that requires a token (auth other than "
                "public)",
            )
