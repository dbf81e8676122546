"""The edge listener: one HTTP connection manager for REST/JSON and gRPC callers.

HTTP/1.1 and HTTP/2 (h2c) arrive on the same port. The filters run in this
order, and the order matters:

0. status_header: first, so it sees every reply last: REST replies get the
   `grpc-status` their body says (gateway/status_header.py);
1. cors: answers preflights before anything asks for a token;
2. buffer: refuses bodies over the registry's limit with 413;
   (strict JSON: refuses bodies with fields the request message lacks, which
   the transcoder would drop; gateway/strict_json.py)
3. grpc_json_transcoder: REST → gRPC from the `google.api.http` annotations;
   gRPC calls pass through; it rewrites `:path` to the RPC and re-routes;
3a. transport_headers: checks, caps or drops the gRPC transport headers a
   client sent (gateway/transport_headers.py), on the RPC's route;
4. jwt_authn: checks the token the RPC's route asks for, and forwards the
   verified subject as `x-jwt-sub` and its `roles` claim as `x-jwt-roles`
   (stripping any copy the client sent);
5. local_ratelimit: the RPC's route's token buckets, per route and per client;
6. router.
jwt_authn and local_ratelimit run after the transcoder so that they see the
RPC's route, whichever way the call came in; a REST path is matched by no
route of its own.
"""

from __future__ import annotations

from typing import Any

from gateway.early_headers import early_header_mutations
from gateway.local_replies import local_replies
from gateway.routes import (
    JWT_FILTER,
    LOCAL_RATELIMIT,
    RATELIMIT_FILTER,
    ROLES_HEADER,
    SIGNED_IN,
    SIGNED_IN_IF_ANY,
    SUBJECT_HEADER,
)
from gateway.status_header import status_header_filter
from gateway.transport_headers import transport_header_filter
from protomesh.edge_auth import ROLES_CLAIM
from protomesh.registry import Edge

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
CORS = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
TRANSCODER = (
    "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder"
)
JWT_AUTHN = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
JWT_PROVIDER = "edge_issuer"
# One JSON line per request. `path` is what the client asked for, `rpc` what it became.
ACCESS_LOG_FORMAT = {
    "time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
    "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "rpc": "%REQ(:PATH)%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS%",
    "flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "duration_ms": "%DURATION%",
    "upstream": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "bytes_in": "%BYTES_RECEIVED%",
    "bytes_out": "%BYTES_SENT%",
    "subject": "%REQ(X-JWT-SUB)%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "user_agent": "%REQ(USER-AGENT)%",
}


def connection_manager(
    edge: Edge,
    routes: dict[str, Any],
    exposed: list[str],
    descriptor: str,
    jwks: str,
    *,
    strict_json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM,
            "stat_prefix": "edge",
            "codec_type": "AUTO",
            "server_name": "protomesh-edge",
            "use_remote_address": True,
            "normalize_path": True,
            "merge_slashes": True,
            # Keep a caller's x-request-id (so it can correlate), else make one;
            # either way the caller gets it back.
            "preserve_external_request_id": True,
            "always_set_request_id_in_response": True,
            "access_log": [
                {
                    "name": "envoy.access_loggers.stdout",
                    "typed_config": {
                        "@type": STDOUT_LOG,
                        "log_format": {"json_format": ACCESS_LOG_FORMAT},
                    },
                }
            ],
            "local_reply_config": local_replies(),
            "early_header_mutation_extensions": early_header_mutations(),
            "route_config": routes,
            "http_filters": _filters(edge, exposed, descriptor, jwks, strict_json),
        },
    }


def _filters(
    edge: Edge, exposed: list[str], descriptor: str, jwks: str, strict_json: dict[str, Any] | None
) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [
        # First, so that it sees every reply last: it tells REST callers their gRPC status.
        status_header_filter(),
        {"name": "envoy.filters.http.cors", "typed_config": {"@type": CORS}},
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": {"@type": BUFFER, "max_request_bytes": edge.max_request_bytes},
        },
        *([strict_json] if strict_json is not None else []),
        {
            "name": "envoy.filters.http.grpc_json_transcoder",
            "typed_config": {
                "@type": TRANSCODER,
                "proto_descriptor": descriptor,
                "services": exposed,
                "print_options": {
                    "always_print_primitive_fields": True,
                    "preserve_proto_field_names": True,
                },
                "convert_grpc_status": True,
                "request_validation_options": {
                    "reject_unknown_method": True,
                    "reject_unknown_query_parameters": True,
                    "reject_binding_body_field_collisions": True,
                },
            },
        },
    ]
    # Checks the transport headers a client sent before anything acts on them.
    filters.append(transport_header_filter())
    if edge.jwt is not None:
        provider = {
            "issuer": edge.jwt.issuer,
            "audiences": list(edge.jwt.audiences),
            "local_jwks": {"filename": jwks},
            "forward": False,
            "claim_to_headers": [
                {"header_name": SUBJECT_HEADER, "claim_name": "sub"},
                {"header_name": ROLES_HEADER, "claim_name": ROLES_CLAIM},
            ],
        }
        signed_in = {"provider_name": JWT_PROVIDER}
        filters.append(
            {
                "name": JWT_FILTER,
                "typed_config": {
                    "@type": JWT_AUTHN,
                    "providers": {JWT_PROVIDER: provider},
                    "requirement_map": {
                        SIGNED_IN: signed_in,
                        SIGNED_IN_IF_ANY: {
                            "requires_any": {"requirements": [signed_in, {"allow_missing": {}}]}
                        },
                    },
                },
            }
        )
    filters.append(
        {
            "name": RATELIMIT_FILTER,
            "typed_config": {
                "@type": LOCAL_RATELIMIT,
                "stat_prefix": "edge_ratelimit",
            },
        }
    )
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}})
    return filters
