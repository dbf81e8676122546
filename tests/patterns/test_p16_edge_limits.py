"""Pattern 16, at the edge: rate limits per route and quotas per client, in the real Envoy.

The registry here is the project's own with tighter numbers, so a burst of a
few calls runs a bucket dry: GetUser allows 3 calls a minute in all (429 with
x-ratelimit headers, for REST and gRPC alike); ListUsers (admins only) allows
each JWT subject 2 a minute; CreateUser 2 a minute per API key. Each would be
served without its `rate_limit` or `quota` line. The limits inside the
services (per calling identity, per end user, load shedding) are proven in
test_p16_service_limits.py.
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


def tight_limits(document: dict[str, Any]) -> None:
    routes = document["edge"]["routes"]
    per_minute = {"per": "1m"}
    routes["shop.user.v1.UserService/GetUser"]["rate_limit"] = {"requests": 3, **per_minute}
    routes["shop.user.v1.UserService/ListUsers"]["quota"] = {
        "by": "jwt_subject",
        "requests": 2,
        **per_minute,
    }
    create = routes["shop.user.v1.UserService/CreateUser"]
    create.pop("rate_limit")
    create["quota"] = {"by": "api_key", "requests": 2, **per_minute}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    probe: Probe
    with probe_upstream(tmp_path_factory.mktemp("probe")) as probe:
        mesh = edge_mesh([probe.port], tight_limits)
        with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
            envoy.wait_upstreams_healthy()
            yield envoy


def test_a_burst_beyond_the_route_bucket_gets_429_with_rate_limit_headers(edge: Envoy) -> None:
    replies = [edge.request("GET", "/v1/users/u1") for _ in range(4)]
    assert [reply.status for reply in replies] == [200, 200, 200, 429]
    assert [reply.headers["x-ratelimit-remaining"] for reply in replies] == ["2", "1", "0", "0"]
    limited = replies[-1]
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert int(limited.headers["x-ratelimit-reset"]) > 0
    assert limited.json()["code"] == 8  # RESOURCE_EXHAUSTED
    with grpc.insecure_channel(edge.address) as channel, pytest.raises(grpc.RpcError) as raised:
        v1_grpc.UserServiceStub(channel).GetUser(v1.GetUserRequest(user_id="u1"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    counter = "shop.user.v1.UserService.GetUser.http_local_rate_limit.rate_limited"
    assert edge.stats(counter)[counter] == 2  # the REST call and the gRPC call


def test_each_signed_in_user_has_a_quota_of_their_own(edge: Envoy) -> None:
    def list_as(subject: str) -> int:
        token = edge.token(subject, claims={"roles": ["admin"]})  # ListUsers is for admins
        headers = {"authorization": f"Bearer {token}"}
        return edge.request("GET", "/v1/users", headers=headers).status

    assert [list_as("alice") for _ in range(3)] == [200, 200, 429]
    assert [list_as("bob") for _ in range(2)] == [200, 200]


def test_each_api_key_has_a_quota_of_its_own(edge: Envoy) -> None:
    def create_with(key: str) -> int:
        body = {"email": "a@example.com"}
        return edge.request("POST", "/v1/users", body, {"x-api-key": key}).status

    assert [create_with("key-a") for _ in range(3)] == [200, 200, 429]
    assert create_with("key-b") == 200
