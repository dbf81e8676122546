"""End-user authentication at the edge: jwt_authn with the dev issuer's JWKS.

Against the real Envoy and the probe upstream, which reports the end user it
was told about; the runtime applies mesh.yaml's route policies to it like to
any service. In mesh.yaml, UpdateUser is `auth: {owner: user_id}`, ListUsers
`{role: admin}` and GetUser `public`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    probe: Probe
    with probe_upstream(tmp_path_factory.mktemp("probe")) as probe:
        mesh = edge_mesh([probe.port])
        with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
            envoy.wait_upstreams_healthy()
            yield envoy


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def seen_by_service(user: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads(user["display_name"])
    return seen


def update(edge: Envoy, user_id: str, headers: dict[str, str]) -> Any:
    return edge.request("PATCH", f"/v1/users/{user_id}", {"display_name": "x"}, headers)


def test_a_route_that_is_not_public_needs_a_token(edge: Envoy) -> None:
    reply = update(edge, "alice", {})
    assert reply.status == 401
    assert reply.json()["message"] == "Jwt is missing"
    assert reply.json()["code"] == 16


def test_a_valid_token_passes_and_the_service_sees_its_subject(edge: Envoy) -> None:
    reply = update(edge, "alice", bearer(edge.token("alice")))
    assert reply.status == 200
    assert seen_by_service(reply.json()["user"])["end_user"] == "alice"


def test_the_service_authorizes_by_the_subject(edge: Envoy) -> None:
    """alice is authenticated, but bob's record is not hers: the service says 403."""
    reply = update(edge, "bob", bearer(edge.token("alice")))
    assert reply.status == 403
    assert reply.json()["code"] == 7
    assert reply.json()["message"] == (
        "/shop.user.v1.UserService/UpdateUser: only the user its user_id names may call it"
    )


def test_the_roles_claim_reaches_the_service_and_a_client_sent_one_does_not(edge: Envoy) -> None:
    """Envoy forwards an array claim as base64 JSON; the service reads it back."""
    admin = bearer(edge.token("root", claims={"roles": ["admin", "support"]}))
    listed = edge.request("GET", "/v1/users", headers=admin)
    assert listed.status == 200
    assert seen_by_service(listed.json()["users"][0])["roles"] == ["admin", "support"]
    forged = {**bearer(edge.token("alice")), "x-jwt-roles": "admin"}
    assert edge.request("GET", "/v1/users", headers=forged).status == 403
    got = edge.request("GET", "/v1/users/u1", headers=forged)
    assert (
        seen_by_service(got.json()["user"])["end_user"],
        seen_by_service(got.json()["user"])["roles"],
    ) == ("alice", [])


def test_an_expired_token_is_refused(edge: Envoy) -> None:
    """Expired two minutes ago: past Envoy's 60 s of allowed clock skew."""
    token = edge.token("alice", now=time.time() - 3600 - 120, ttl=3600)
    reply = update(edge, "alice", bearer(token))
    assert (reply.status, reply.json()["message"]) == (401, "Jwt is expired")


def test_a_token_signed_by_another_key_is_refused(edge: Envoy) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": edge.edge.jwt.issuer, "aud": "protomesh", "sub": "alice"}
    claims["exp"] = int(time.time()) + 600
    token = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "protomesh-dev"})
    reply = update(edge, "alice", bearer(token))
    assert (reply.status, reply.json()["message"]) == (401, "Jwt verification fails")


def test_an_unsigned_token_is_refused(edge: Envoy) -> None:
    """`alg: none`: a token anyone can write, naming any subject and any role."""
    claims = {"iss": edge.edge.jwt.issuer, "aud": "protomesh", "sub": "alice"}
    claims |= {"exp": int(time.time()) + 600, "roles": ["admin"]}
    header = {"alg": "none", "typ": "JWT", "kid": "protomesh-dev"}
    token = (
        ".".join(
            jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
            for part in (header, claims)
        )
        + "."
    )
    reply = update(edge, "alice", bearer(token))
    assert reply.status == 401
    anonymous_get = edge.request("GET", "/v1/users/u1", headers=bearer(token))
    assert anonymous_get.status == 401  # a public route verifies a token when one is sent


def test_a_token_from_another_issuer_is_refused(edge: Envoy) -> None:
    token = edge.token("alice", issuer="https://evil.example")
    reply = update(edge, "alice", bearer(token))
    assert reply.status == 401
    assert reply.json()["message"] == "Jwt issuer is not configured"


def test_a_tampered_token_is_refused(edge: Envoy) -> None:
    header, _, signature = edge.token("alice").split(".")
    forged = jwt.utils.base64url_encode(json.dumps({"sub": "admin"}).encode()).decode()
    reply = update(edge, "alice", bearer(f"{header}.{forged}.{signature}"))
    assert reply.status == 401


def test_a_token_for_another_audience_is_forbidden(edge: Envoy) -> None:
    reply = update(edge, "alice", bearer(edge.token("alice", audience="someone-else")))
    assert reply.status == 403
    assert reply.json()["message"] == "Audiences in Jwt are not allowed"


def test_a_client_cannot_forge_the_subject_header(edge: Envoy) -> None:
    """The subject header a client sends never reaches the service as its own."""
    anonymous = edge.request("GET", "/v1/users/u1", headers={"x-jwt-sub": "mallory"})
    assert seen_by_service(anonymous.json()["user"])["end_user"] is None
    headers = {**bearer(edge.token("alice")), "x-jwt-sub": "mallory"}
    signed_in = update(edge, "alice", headers)
    assert seen_by_service(signed_in.json()["user"])["end_user"] == "alice"
    assert update(edge, "mallory", headers).status == 403


def test_an_open_route_still_verifies_a_token_when_one_is_sent(edge: Envoy) -> None:
    reply = edge.request("GET", "/v1/users/u1", headers=bearer(edge.token("alice")))
    assert seen_by_service(reply.json()["user"])["end_user"] == "alice"
    bad = edge.request("GET", "/v1/users/u1", headers=bearer("not.a.token"))
    assert bad.status == 401


def test_grpc_callers_authenticate_with_the_same_token(edge: Envoy) -> None:
    request = v1.UpdateUserRequest(user_id="alice", display_name="x")
    with grpc.insecure_channel(edge.address) as channel:
        users = v1_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            users.UpdateUser(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        metadata = (("authorization", f"Bearer {edge.token('alice')}"),)
        reply = users.UpdateUser(request, timeout=10, metadata=metadata)
    assert json.loads(reply.user.display_name)["end_user"] == "alice"
