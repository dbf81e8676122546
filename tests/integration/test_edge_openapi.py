"""/openapi.json and /docs through the real Envoy: the generated document, and a Swagger UI
page whose every asset is the packaged file, served by the edge itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.openapi.pages import PACKAGED, swagger_ui_dir
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

_ASSET = re.compile(r"""(?:src|href)="([^"]+)\"""")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    # The pages need no upstream: nothing listens on the user service's port.
    with running_envoy(edge_mesh([free_port()]), tmp_path_factory.mktemp("edge")) as envoy:
        yield envoy


def test_the_document_is_served_as_json_without_a_token(edge: Envoy) -> None:
    reply = edge.request("GET", "/openapi.json")
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.body == (edge.directory / "pages" / "openapi.json").read_bytes()
    document = reply.json()
    assert document["openapi"] == "3.1.0"
    assert "/v1/users/{user_id}" in document["paths"]


def test_the_docs_page_loads_its_packaged_assets_from_the_edge(edge: Envoy) -> None:
    page = edge.request("GET", "/docs")
    assert page.status == 200, page.body
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    assets = [url for url in _ASSET.findall(html) if not url.startswith("data:")]
    assert len(assets) == 3, assets  # the stylesheet, Swagger UI's bundle, our start script
    for url in assets:
        assert url.startswith("/docs/"), f"{url} is not served by the edge"
        reply = edge.request("GET", url)
        assert reply.status == 200, (url, reply.body[:200])
        name = Path(url).name
        if name in PACKAGED:
            assert reply.body == (swagger_ui_dir() / name).read_bytes(), url
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert reply.headers["content-type"].startswith(kind), url
    start = edge.request("GET", "/docs/docs.js").body.decode()
    assert '"/openapi.json"' in start
    assert "validatorUrl: null" in start  # no badge from an online validator
    assert not re.search(r"https?://", html + start), "the page names an outside address"


def test_the_page_routes_answer_get_only_and_do_not_shadow_others(edge: Envoy) -> None:
    assert edge.request("GET", "/docs/").status == 200
    assert edge.request("GET", "/openapi.json?download=1").status == 200
    for method, path in (("POST", "/openapi.json"), ("GET", "/docsx"), ("GET", "/docs/nope.js")):
        reply = edge.request(method, path)
        assert reply.status == 404, (method, path)
        assert reply.json()["code"] == 5  # the edge's own google.rpc.Status
