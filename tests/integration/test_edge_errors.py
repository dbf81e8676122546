"""How the edge answers errors: gRPC statuses as HTTP codes, one JSON error shape for all.

Against the real Envoy and a probe upstream on the real runtime, which fails
on request with each domain error (tests/support/edge_upstream.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy

pytestmark = pytest.mark.integration

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def slow_get_times_out(document: dict[str, Any]) -> None:
    routes = document["edge"]["routes"]
    routes["shop.user.v1.UserService/GetUser"]["timeout"] = "300ms"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with probe_upstream(tmp_path_factory.mktemp("probe")) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def edge(probe: Probe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    mesh = edge_mesh([probe.port], slow_get_times_out)
    with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def detail(body: dict[str, Any], type_url: str) -> dict[str, Any]:
    return next(d for d in body["details"] if d["@type"] == type_url)


@pytest.mark.parametrize(
    ("failure", "http_status", "grpc_code"),
    [
        ("NOT_FOUND", 404, 5),
        ("INVALID_ARGUMENT", 400, 3),
        ("ALREADY_EXISTS", 409, 6),
        ("UNAUTHENTICATED", 401, 16),
        ("PERMISSION_DENIED", 403, 7),
        ("RESOURCE_EXHAUSTED", 429, 8),
        ("UNAVAILABLE", 503, 14),
        ("FAILED_PRECONDITION", 400, 9),
    ],
)
def test_each_grpc_status_maps_to_its_http_status_with_the_status_as_json(
    edge: Envoy, failure: str, http_status: int, grpc_code: int
) -> None:
    reply = edge.request("GET", f"/v1/users/{failure}")
    assert reply.status == http_status
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["code"] == grpc_code
    assert body["message"]
    assert detail(body, ERROR_INFO)["domain"] == "probe.protomesh"


def test_details_survive_the_translation(edge: Envoy) -> None:
    invalid = edge.request("GET", "/v1/users/INVALID_ARGUMENT").json()
    violations = detail(invalid, BAD_REQUEST)["field_violations"]
    assert violations == [{"field": "user_id", "description": "not acceptable", "reason": ""}]
    exhausted = edge.request("GET", "/v1/users/RESOURCE_EXHAUSTED").json()
    assert detail(exhausted, RETRY_INFO)["retry_delay"] == "2s"


@pytest.mark.parametrize(
    ("method", "path", "body", "http_status", "grpc_code"),
    [
        ("GET", "/v1/nothing/here", None, 404, 5),
        ("GET", "/v1/users?no_such_parameter=1", None, 400, 3),
        ("POST", "/v1/users", b'{"email": ', 400, 3),
        ("PATCH", "/v1/users/u1", b'{"display_name": "x"}', 401, 16),
    ],
)
def test_the_edge_own_refusals_have_the_same_shape(
    edge: Envoy, *, method: str, path: str, body: bytes | None, http_status: int, grpc_code: int
) -> None:
    """Unknown path, unknown query parameter, malformed JSON, missing token: never a 503."""
    reply = edge.request(method, path, raw=body)
    assert reply.status == http_status
    assert reply.headers["content-type"] == "application/json"
    document = reply.json()
    assert set(document) == {"code", "message", "details"}
    assert document["code"] == grpc_code
    info = detail(document, ERROR_INFO)
    assert info["domain"] == "edge.protomesh"
    assert info["metadata"]["request_id"] == reply.headers["x-request-id"]


def test_a_route_timeout_is_a_504_deadline_exceeded(edge: Envoy) -> None:
    reply = edge.request("GET", "/v1/users/SLOW")
    assert reply.status == 504
    assert reply.json()["code"] == 4  # DEADLINE_EXCEEDED
    assert reply.json()["details"][0]["metadata"]["envoy"] == "response_timeout"


def test_an_unavailable_get_is_retried_but_a_post_is_not(edge: Envoy, probe: Probe) -> None:
    """Every try carries the request's id: the probe's log counts the tries of one request."""
    got = edge.request("GET", "/v1/users/UNAVAILABLE")
    assert got.status == 503
    # The first try and the route's 2 retries (waiting a while for a fourth, which never comes).
    assert probe.wait_for_calls("GetUser", got.headers["x-request-id"], 4, timeout=1.0) == 3
    posted = edge.request("POST", "/v1/users", {"email": "UNAVAILABLE", "display_name": "x"})
    assert posted.status == 503
    assert probe.wait_for_calls("CreateUser", posted.headers["x-request-id"], 2, timeout=1.0) == 1


def test_the_idempotency_key_header_reaches_the_service_as_metadata(edge: Envoy) -> None:
    reply = edge.request(
        "POST", "/v1/users", {"email": "a@example.com"}, {"Idempotency-Key": "key-123"}
    )
    assert reply.status == 200
    seen = reply.json()["user"]["display_name"]
    assert '"idempotency_key": "key-123"' in seen


def test_grpc_callers_get_grpc_statuses_not_json(edge: Envoy) -> None:
    with grpc.insecure_channel(edge.address) as channel:
        users = v1_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            users.GetUser(v1.GetUserRequest(user_id="PERMISSION_DENIED"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        no_such_method = channel.unary_unary(
            "/shop.user.v1.UserService/NoSuchMethod",
            request_serializer=v1.GetUserRequest.SerializeToString,
            response_deserializer=v1.GetUserResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as unknown:
            no_such_method(v1.GetUserRequest(), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert unknown.value.details() == "no such route"
