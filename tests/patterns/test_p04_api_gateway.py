"""Pattern 4: the API gateway, the real Envoy edge in front of the real user service.

Proven here, with the project's own mesh.yaml (only the ports moved):
Envoy is the only public entry, and exposes only the RPCs the registry lists
(the service's health and reflection stay internal); REST is transcoded to
gRPC for v1 and v2; gRPC passes through the same port; each route has its
timeout (a stalled service answers 504 at the route's deadline) and retries
only idempotent calls (a GET is tried three times, a POST once); CORS answers
the registry's origins; one request id runs through the reply, Envoy's JSON
access log and the service's log; routes that are not public need a valid JWT, whose
subject reaches the service.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import yaml
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.grpc_calls import health
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def user(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = user_service(postgres, tmp_path_factory.mktemp("p04"))
    service.start()
    try:
        yield service
    finally:
        service.kill()


@pytest.fixture(scope="module")
def edge(user: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    with running_envoy(edge_mesh([user.port]), tmp_path_factory.mktemp("edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def routes(edge: Envoy) -> list[dict[str, Any]]:
    """The routes of the config Envoy runs."""
    config = yaml.safe_load(edge.config_file.read_text())
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    found: list[dict[str, Any]] = manager["route_config"]["virtual_hosts"][0]["routes"]
    return found


def create_user(edge: Envoy, version: str = "v1") -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    body: dict[str, Any] = {"email": email}
    body |= {"display_name": "Ada"} if version == "v1" else {"name": {"given_name": "Ada"}}
    reply = edge.request("POST", f"/{version}/users", body)
    assert reply.status == 200, reply.body
    user: dict[str, Any] = reply.json()["user"]
    return user


def as_owner(edge: Envoy, user: dict[str, Any]) -> dict[str, str]:
    """The user's own token: only they (and admins) see their email."""
    return {"authorization": f"Bearer {edge.token(user['user_id'])}"}


def test_rest_is_transcoded_to_each_api_version(edge: Envoy) -> None:
    for version in ("v1", "v2"):
        created = create_user(edge, version)
        path = f"/{version}/users/{created['user_id']}"
        got = edge.request("GET", path, headers=as_owner(edge, created))
        assert got.json()["user"] == created
    v2_only = create_user(edge, "v2")
    assert "name" in v2_only
    assert "name" not in edge.request("GET", f"/v1/users/{v2_only['user_id']}").json()["user"]


def test_grpc_passes_through_the_same_edge(edge: Envoy) -> None:
    created = create_user(edge)
    with grpc.insecure_channel(edge.address) as channel:
        reply = v1_grpc.UserServiceStub(channel).GetUser(
            v1.GetUserRequest(user_id=created["user_id"]),
            timeout=10,
            metadata=tuple(as_owner(edge, created).items()),
        )
    assert reply.user.email == created["email"]


def test_only_the_registry_routes_are_public(edge: Envoy, user: ServiceProcess) -> None:
    """The service's health (like any RPC the registry does not list) stays internal."""
    assert health(user.address) == "SERVING"
    with pytest.raises(grpc.RpcError) as raised:
        health(edge.address, tls=False)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    config = yaml.safe_load(edge.config_file.read_text())
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener == {"address": "127.0.0.1", "port_value": edge.port}


def test_a_route_timeout_bounds_a_stalled_service(edge: Envoy, user: ServiceProcess) -> None:
    created = create_user(edge)
    assert user.process is not None
    os.kill(user.process.pid, signal.SIGSTOP)
    try:
        reply = edge.request("GET", f"/v1/users/{created['user_id']}")
    finally:
        os.kill(user.process.pid, signal.SIGCONT)
    assert reply.status == 504
    assert reply.json()["code"] == 4  # DEADLINE_EXCEEDED
    entry = edge.wait_for_access_log(reply.headers["x-request-id"])[0]
    assert (entry["flags"], entry["details"]) == ("UT", "response_timeout")
    route = next(r for r in routes(edge) if r["name"] == "shop.user.v1.UserService/GetUser")
    assert route["route"]["timeout"] == "2s"  # mesh.yaml: shop.user.v1.UserService timeout 2s
    edge.wait_upstreams_healthy()


def test_only_idempotent_calls_are_retried(edge: Envoy, user: ServiceProcess) -> None:
    created = create_user(edge)
    user.kill()
    try:
        got = edge.request("GET", f"/v1/users/{created['user_id']}")
        posted = edge.request("POST", "/v1/users", {"email": "x@example.com", "display_name": "X"})
    finally:
        user.start()
    assert (got.status, posted.status) == (503, 503)
    attempts = {
        method: edge.wait_for_access_log(reply.headers["x-request-id"])[0]["attempts"]
        for method, reply in (("GET", got), ("POST", posted))
    }
    assert attempts == {"GET": 3, "POST": 1}  # mesh.yaml: retries: 2, idempotent methods only
    edge.wait_upstreams_healthy()


def test_cors_answers_the_registry_origins(edge: Envoy) -> None:
    origin = edge.mesh.edge.cors_origins[0]  # type: ignore[union-attr]
    preflight = {"origin": origin, "access-control-request-method": "POST"}
    reply = edge.request("OPTIONS", "/v2/users", headers=preflight)
    assert reply.headers["access-control-allow-origin"] == origin


def test_one_request_id_runs_through_reply_access_log_and_service_log(
    edge: Envoy, user: ServiceProcess
) -> None:
    created = create_user(edge)
    reply = edge.request("GET", f"/v2/users/{created['user_id']}")
    request_id = reply.headers["x-request-id"]
    entry = edge.wait_for_access_log(request_id)[0]
    assert (entry["method"], entry["status"], entry["rpc"]) == (
        "GET",
        200,
        "/shop.user.v2.UserService/GetUser",
    )
    logged = [json.loads(line) for line in user.log().splitlines() if request_id in line]
    assert logged[0]["rpc_method"] == "/shop.user.v2.UserService/GetUser"


def test_routes_that_are_not_public_need_a_valid_jwt_whose_subject_is_logged(edge: Envoy) -> None:
    created = create_user(edge, "v2")
    path, body = f"/v2/users/{created['user_id']}", {"name": {"given_name": "Grace"}}
    assert edge.request("PATCH", path, body).status == 401
    token = edge.token(created["user_id"])
    updated = edge.request("PATCH", path, body, {"authorization": f"Bearer {token}"})
    assert updated.status == 200
    assert updated.json()["user"]["name"]["given_name"] == "Grace"
    entry = edge.wait_for_access_log(updated.headers["x-request-id"])[0]
    assert entry["subject"] == created["user_id"]
