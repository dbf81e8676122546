"""Envoy serving the pages: a route per page, answered from its file, and no token asked.

Each page is a `direct_response` whose body Envoy reads from the file at
start (so the files must be there before Envoy starts). Two things in the
edge's config would get in the way, and each route or mapper here steps
around one:
- the transcoder refuses any path it cannot map to an RPC
  (`reject_unknown_method`): the page routes turn it off for themselves;
- a direct response is a local reply, which the edge rewrites into its
  google.rpc.Status JSON: a mapper for each page, placed first, passes the
  file through unchanged with its content type.
The routes match GET only; any other method falls through to the catch-all
404. jwt_authn asks nothing of routes without a requirement, so the pages
need no token.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.openapi.pages import MAX_BODY_BYTES, PAGES, Page
from gateway.routes import UNROUTED
from gateway.status_header import FILTER_NAME as STATUS_HEADER
from gateway.transport_headers import FILTER_NAME as TRANSPORT_HEADERS

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
# A page is neither REST nor gRPC: the filters for those calls stand aside.
NOT_FOR_PAGES = (TRANSCODER, TRANSPORT_HEADERS, STATUS_HEADER)


def serve_pages(route_config: dict[str, Any], manager: dict[str, Any], directory: str) -> None:
    """Add the pages to the edge's routes (before the catch-all) and to its local replies."""
    routes: list[dict[str, Any]] = route_config["virtual_hosts"][0]["routes"]
    if not routes or routes[-1]["name"] != UNROUTED:
        raise ValueError("the edge's routes must end with the catch-all")
    routes[-1:-1] = [_route(path, page, directory) for page in PAGES for path in page.paths]
    route_config["max_direct_response_body_size_bytes"] = MAX_BODY_BYTES
    mappers: list[dict[str, Any]] = manager["typed_config"]["local_reply_config"]["mappers"]
    mappers[0:0] = [_mapper(page) for page in PAGES]


def _route(path: str, page: Page, directory: str) -> dict[str, Any]:
    return {
        "name": f"page {path}",
        "match": {
            "path": path,
            "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
        },
        "direct_response": {"status": 200, "body": {"filename": f"{directory}/{page.file}"}},
        "typed_per_filter_config": {
            name: {"@type": FILTER_CONFIG, "disabled": True} for name in NOT_FOR_PAGES
        },
    }


def _mapper(page: Page) -> dict[str, Any]:
    """The page's reply as it is: a 200 to a GET of one of its paths (query string or not)."""
    paths = "|".join(re.escape(path) for path in page.paths)
    requested = {
        "header_filter": {
            "header": {
                "name": ":path",
                "string_match": {"safe_regex": {"regex": f"^({paths})(\\?.*)?$"}},
            }
        }
    }
    ok = {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": 200, "runtime_key": "edge.pages.status"},
            }
        }
    }
    return {
        "filter": {"and_filter": {"filters": [ok, requested]}},
        "body_format_override": {
            "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
            "content_type": page.content_type,
        },
    }
