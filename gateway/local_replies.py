"""Envoy's own error replies, in the shape upstream errors have through the transcoder.

An upstream error reaches a REST caller as google.rpc.Status JSON:
`{"code": <gRPC code>, "message": ..., "details": [...]}`. Envoy's own
refusals (no such route, bad JSON, no token, rate limited, body too large,
upstream down) are local replies, formatted here into the same shape: the
gRPC code that matches their HTTP status, and an ErrorInfo whose `reason` is
that code's name and whose metadata says which part of Envoy answered and the
request id. A gRPC caller gets the plain message as `grpc-message` instead.
A filter that writes its refusal in that shape itself (the strict JSON
check) marks it with PREFORMATTED dynamic metadata, and it goes out as written.
"""

from __future__ import annotations

from typing import Any

# A caller that speaks gRPC: a gRPC content type the transcoder did not put there
# (it marks the requests it transcodes with x-envoy-original-method).
_GRPC_CALLER = {
    "and_filter": {
        "filters": [
            {
                "header_filter": {
                    "header": {
                        "name": "content-type",
                        "string_match": {"prefix": "application/grpc"},
                    }
                }
            },
            {
                "header_filter": {
                    "header": {
                        "name": "x-envoy-original-method",
                        "present_match": True,
                        "invert_match": True,
                    }
                }
            },
        ]
    }
}
# Dynamic metadata (namespace, key) set to true by a filter whose local reply is
# already google.rpc.Status JSON (gateway/strict_json.lua sets it).
PREFORMATTED = ("protomesh.edge", "formatted")
GRPC_UNKNOWN = 2
GRPC_CODE_NAMES = {
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}
# The inverse of the transcoder's gRPC → HTTP mapping, for Envoy's own replies.
GRPC_CODE_OF_HTTP_STATUS = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    408: 4,
    413: 8,
    429: 8,
    431: 8,
    500: 13,
    501: 12,
    502: 14,
    503: 14,
    504: 4,
}


def local_replies() -> dict[str, Any]:
    """The first mapper that matches a reply formats it: gRPC callers first, then by status."""
    grpc_text = {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}}
    not_routed = {"response_flag_filter": {"flags": ["NC"]}}
    no_route = {"inline_string": "no such route"}
    namespace, key = PREFORMATTED
    preformatted = {
        "matcher": {"filter": namespace, "path": [{"key": key}], "value": {"bool_match": True}},
        "match_if_key_not_found": False,  # the default, true, would take every reply
    }
    mappers: list[dict[str, Any]] = [
        {
            "filter": {"metadata_filter": preformatted},
            "body_format_override": {
                "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
                "content_type": "application/json",
            },
        },
        {
            "filter": {"and_filter": {"filters": [_GRPC_CALLER, not_routed]}},
            "body": no_route,
            "body_format_override": grpc_text,
        },
        {"filter": _GRPC_CALLER, "body_format_override": grpc_text},
        {"filter": not_routed, "body": no_route, "body_format_override": _status_json(5)},
    ]
    for http_status, grpc_code in GRPC_CODE_OF_HTTP_STATUS.items():
        comparison = {
            "op": "EQ",
            "value": {"default_value": http_status, "runtime_key": "edge.local_reply.status"},
        }
        mappers.append(
            {
                "filter": {"status_code_filter": {"comparison": comparison}},
                "body_format_override": _status_json(grpc_code),
            }
        )
    return {"mappers": mappers, "body_format": _status_json(GRPC_UNKNOWN)}


def _status_json(grpc_code: int) -> dict[str, Any]:
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": GRPC_CODE_NAMES[grpc_code],
        "domain": "edge.protomesh",
        "metadata": {"envoy": "%RESPONSE_CODE_DETAILS%", "request_id": "%REQ(X-REQUEST-ID)%"},
    }
    return {"json_format": {"code": grpc_code, "message": "%LOCAL_REPLY_BODY%", "details": [info]}}
