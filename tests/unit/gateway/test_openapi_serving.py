"""The edge's config serves the API pages: GET-only routes before the catch-all, answered
from files, without the transcoder, without a token, and passed through the local replies."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import FILES, EdgeFiles, render
from gateway.openapi.pages import MAX_BODY_BYTES, PAGES
from gateway.routes import JWT_FILTER, UNROUTED
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import LOCAL, RpcCatalogue, load_mesh


def manager(files: EdgeFiles) -> dict[str, Any]:
    catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
    config = render(load_mesh(catalogue=catalogue), LOCAL, catalogue, files)
    typed: dict[str, Any] = config["static_resources"]["listeners"][0]["filter_chains"][0][
        "filters"
    ][0]["typed_config"]
    return typed


@pytest.fixture(scope="module")
def edge() -> dict[str, Any]:
    return manager(FILES[LOCAL])


def test_each_page_has_a_get_route_before_the_catch_all(edge: dict[str, Any]) -> None:
    routes = edge["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[-1]["name"] == UNROUTED
    pages = {r["match"]["path"]: r for r in routes if "direct_response" in r}
    assert set(pages) == {path for page in PAGES for path in page.paths}
    assert {"/openapi.json", "/docs"} <= set(pages)
    for path, route in pages.items():
        assert route["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "GET"}}]
        assert route["direct_response"]["body"]["filename"].startswith("envoy/pages/"), path
        per_filter = route["typed_per_filter_config"]
        assert per_filter["envoy.filters.http.grpc_json_transcoder"]["disabled"] is True
        assert JWT_FILTER not in per_filter  # no requirement: no token asked
    assert edge["route_config"]["max_direct_response_body_size_bytes"] == MAX_BODY_BYTES


def test_the_pages_local_replies_come_first_and_keep_the_file(edge: dict[str, Any]) -> None:
    mappers = edge["local_reply_config"]["mappers"]
    for page, mapper in zip(PAGES, mappers, strict=False):
        override = mapper["body_format_override"]
        assert override["text_format_source"] == {"inline_string": "%LOCAL_REPLY_BODY%"}
        assert override["content_type"] == page.content_type


def test_an_edge_without_a_pages_directory_serves_none(edge: dict[str, Any]) -> None:
    bare = FILES[LOCAL]
    without = manager(EdgeFiles(bare.descriptor, bare.jwks, bare.certs, bare.sds))
    routes = without["route_config"]["virtual_hosts"][0]["routes"]
    assert not [r for r in routes if "direct_response" in r]
    assert len(without["local_reply_config"]["mappers"]) == len(
        edge["local_reply_config"]["mappers"]
    ) - len(PAGES)
