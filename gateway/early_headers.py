"""Headers only Envoy may set are removed from a client's request before anything reads them.

The transcoder marks the calls it made from REST with `x-envoy-original-method`
(and `-path`); the edge's filters and local replies tell REST callers from
gRPC callers by it, and the access log reports them. A client that sends its
own copy would pass a gRPC call off as a REST one (and get a REST-shaped
refusal its gRPC library reads as INTERNAL). An early header mutation runs
before routing and before every filter, so only the transcoder's copy exists.
"""

from __future__ import annotations

from typing import Any

HEADER_MUTATION = (
    "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3"
    ".HeaderMutation"
)
ENVOY_ONLY = ("x-envoy-original-method", "x-envoy-original-path")


def early_header_mutations() -> list[dict[str, Any]]:
    """The connection manager's `early_header_mutation_extensions`."""
    return [
        {
            "name": "envoy.http.early_header_mutation.header_mutation",
            "typed_config": {
                "@type": HEADER_MUTATION,
                "mutations": [{"remove": name} for name in ENVOY_ONLY],
            },
        }
    ]
