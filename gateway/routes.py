"""The edge's routes: one per exposed RPC, carrying that RPC's policy from the registry.

Routes match the gRPC path (`/shop.user.v1.UserService/GetUser`), for REST
and gRPC callers alike: the transcoder turns a REST call into that path and
clears the route cache, so jwt_authn and local_ratelimit, which run after it,
see the RPC's route and its per-route settings. A last catch-all route answers
everything else with 404, and gives CORS preflights (which never become an RPC)
a route to be answered on.
"""

from __future__ import annotations

from typing import Any

from gateway.transport_headers import route_metadata
from protomesh.edge_auth import ROLES_METADATA, SUBJECT_METADATA
from protomesh.registry import Edge, Mesh, Policy, Rpc, RpcCatalogue, TokenBucket

JWT_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
LOCAL_RATELIMIT = (
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
)
JWT_FILTER = "envoy.filters.http.jwt_authn"
RATELIMIT_FILTER = "envoy.filters.http.local_ratelimit"
CORS_POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
PREVIOUS_HOSTS = (
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)
UNROUTED = "unrouted"  # a cluster that does not exist
# Set by jwt_authn from the verified token's `sub` and `roles` claims; named
# once, beside the service side that believes them (protomesh.edge_auth).
SUBJECT_HEADER, ROLES_HEADER = SUBJECT_METADATA, ROLES_METADATA
# Requirements in jwt_authn's requirement_map: a route whose policy requires a
# token (`Policy.requires_token`: any auth but public) needs a valid one; a
# public route verifies a token when one is sent (so the service still learns
# who calls) and lets anonymous calls through.
SIGNED_IN, SIGNED_IN_IF_ANY = "signed_in", "signed_in_if_token"
RETRY_ON = "unavailable,reset,connect-failure"
# Generous back-off: a retried call waits out an upstream that restarts.
RETRY_BACK_OFF = {"base_interval": "0.1s", "max_interval": "1s"}
CORS_ALLOW_HEADERS = (
    "authorization,content-type,idempotency-key,x-request-id,x-api-key,grpc-timeout"
)
CORS_EXPOSE_HEADERS = (
    "x-request-id,grpc-status,grpc-message,x-ratelimit-limit,x-ratelimit-remaining,"
    "x-ratelimit-reset,retry-after"
)
# Clients with a bucket of their own, per route; beyond it the least recently
# seen client's bucket is dropped (and starts full when that client returns).
MAX_CLIENTS = 10_000
_ALWAYS = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def route_config(mesh: Mesh, edge: Edge, catalogue: RpcCatalogue) -> dict[str, Any]:
    routes = []
    for proto_service in edge.exposed:
        server = mesh.server_of(proto_service)
        if server is None:  # the registry has checked it; nothing to route to
            continue
        for rpc in catalogue.services.get(proto_service, {}).values():
            policy = edge.policy(proto_service, rpc.name)
            routes.append(_route(proto_service, rpc, policy, server.name, edge))
    # A route to no cluster, not a direct_response: the CORS filter acts only on
    # routes that forward, and preflights need it. Envoy answers it with 404 NC.
    routes.append(
        {
            "name": "unrouted",
            "match": {"prefix": "/"},
            "route": {"cluster": UNROUTED, "cluster_not_found_response_code": "NOT_FOUND"},
        }
    )
    virtual_host: dict[str, Any] = {"name": "edge", "domains": ["*"], "routes": routes}
    if edge.cors_origins:
        virtual_host["typed_per_filter_config"] = {"envoy.filters.http.cors": _cors(edge)}
    if edge.jwt is None:
        # No jwt_authn filter to strip them: a client must not pass a subject
        # or a role off as verified.
        virtual_host["request_headers_to_remove"] = [SUBJECT_HEADER, ROLES_HEADER]
    # Envoy checks that routed clusters exist; the catch-all's deliberately does not.
    return {"name": "edge", "virtual_hosts": [virtual_host], "validate_clusters": False}


def _route(
    proto_service: str, rpc: Rpc, policy: Policy, cluster: str, edge: Edge
) -> dict[str, Any]:
    # The whole call, retries included. (Not max_stream_duration's
    # grpc_timeout_header_max: with it a gRPC call without grpc-timeout, which
    # every transcoded REST call is, gets no timeout at all.) A caller's shorter
    # deadline still holds: its grpc-timeout travels to the service, capped at
    # this timeout by gateway/transport_headers.py, which reads it from the
    # route's metadata.
    action: dict[str, Any] = {"cluster": cluster, "timeout": _seconds(policy.timeout or 0)}
    if policy.retries and rpc.idempotent:
        action["retry_policy"] = {
            "retry_on": RETRY_ON,
            "num_retries": policy.retries,
            "retry_back_off": RETRY_BACK_OFF,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {"@type": PREVIOUS_HOSTS},
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
    name = f"{proto_service}/{rpc.name}"
    route: dict[str, Any] = {"name": name, "match": {"path": f"/{name}"}, "route": action}
    if metadata := route_metadata(policy):
        route["metadata"] = metadata
    per_filter: dict[str, Any] = {}
    if edge.jwt is not None:
        requirement = SIGNED_IN if policy.requires_token else SIGNED_IN_IF_ANY
        per_filter[JWT_FILTER] = {"@type": JWT_PER_ROUTE, "requirement_name": requirement}
    if policy.rate_limit is not None or policy.quota is not None:
        per_filter[RATELIMIT_FILTER] = _rate_limit(name, policy, edge)
    if per_filter:
        route["typed_per_filter_config"] = per_filter
    return route


def _rate_limit(name: str, policy: Policy, edge: Edge) -> dict[str, Any]:
    """The route's token bucket, and with a quota one bucket per client besides.

    An empty descriptor value means "one bucket per distinct value": each
    subject or API key gets its own. With both, a call spends a token from
    its client's bucket and from the route's. With a quota alone, the route's
    bucket is for callers that send no client header (no API key): together
    they get one client's quota.
    """
    config: dict[str, Any] = {
        "@type": LOCAL_RATELIMIT,
        "stat_prefix": name.replace("/", "."),
        "filter_enabled": {**_ALWAYS, "runtime_key": "edge.ratelimit.enabled"},
        "filter_enforced": {**_ALWAYS, "runtime_key": "edge.ratelimit.enforced"},
        "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
        "rate_limited_as_resource_exhausted": True,
    }
    bucket = policy.rate_limit
    if policy.quota is not None:
        quota = policy.quota.bucket
        header = SUBJECT_HEADER if policy.quota.client == "jwt_subject" else edge.api_key_header
        client = {"request_headers": {"header_name": header, "descriptor_key": "client"}}
        config["rate_limits"] = [{"actions": [client]}]
        config["descriptors"] = [{"entries": [{"key": "client"}], "token_bucket": _bucket(quota)}]
        config["always_consume_default_token_bucket"] = bucket is not None
        config["max_dynamic_descriptors"] = MAX_CLIENTS
        bucket = bucket or quota
    assert bucket is not None  # a route without either gets no rate limit config
    config["token_bucket"] = _bucket(bucket)
    return config


def _bucket(bucket: TokenBucket) -> dict[str, Any]:
    return {
        "max_tokens": bucket.burst,
        "tokens_per_fill": bucket.requests,
        "fill_interval": _seconds(bucket.seconds),
    }


def _cors(edge: Edge) -> dict[str, Any]:
    return {
        "@type": CORS_POLICY,
        "allow_origin_string_match": [{"exact": origin} for origin in edge.cors_origins],
        "allow_methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
        "allow_headers": CORS_ALLOW_HEADERS,
        "expose_headers": CORS_EXPOSE_HEADERS,
        "max_age": "600",
    }


def _seconds(seconds: float) -> str:
    """Envoy's duration strings: whole milliseconds, trailing zeros trimmed."""
    return f"{round(seconds, 3):.3f}".rstrip("0").rstrip(".") + "s"
