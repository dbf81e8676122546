"""CORS at the edge, against the real Envoy: the registry's origins, and only those."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy

pytestmark = pytest.mark.integration

ORIGIN = "http://localhost:3000"  # allowed by mesh.yaml's edge.cors


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    probe: Probe
    with probe_upstream(tmp_path_factory.mktemp("probe")) as probe:
        mesh = edge_mesh([probe.port])
        with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
            envoy.wait_upstreams_healthy()
            yield envoy


def test_cors_preflight_is_answered_for_an_allowed_origin(edge: Envoy) -> None:
    headers = {
        "origin": ORIGIN,
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization,content-type,idempotency-key",
    }
    reply = edge.request("OPTIONS", "/v1/users/u1", headers=headers)
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in reply.headers["access-control-allow-methods"]
    assert "idempotency-key" in reply.headers["access-control-allow-headers"]


def test_cors_headers_go_only_to_allowed_origins(edge: Envoy) -> None:
    allowed = edge.request("POST", "/v1/users", {"email": "b@example.com"}, {"origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"]
    other = edge.request(
        "POST", "/v1/users", {"email": "b@example.com"}, {"origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
