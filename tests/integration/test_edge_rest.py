"""REST/JSON and gRPC through the real Envoy edge to the real user service.

What a curl user sees: create, get and list through `/v1/...` and `/v2/...`
side by side (a user reads their own record with their token, an admin
lists), proto field names in the JSON, errors as HTTP codes with the
service's details, JSON refusals for bad requests, a body limit, and one
request id in the reply, Envoy's access log and the service's log.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh_toolkit.codegen import tool
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.grpc_calls import field_violations
from tests.support.mail import MailSink
from tests.support.openapi import check_reply
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def user(
    postgres: Postgres, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    service = user_service(postgres, tmp_path_factory.mktemp("user"), **mail_sink.service_settings)
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


def unique_email(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.com"


def as_user(edge: Envoy, user_id: str) -> dict[str, str]:
    return {"authorization": f"Bearer {edge.token(user_id)}"}


def as_admin(edge: Envoy) -> dict[str, str]:
    return {"authorization": f"Bearer {edge.token('root', claims={'roles': ['admin']})}"}


def create_v1(edge: Envoy, name: str = "ada") -> dict[str, Any]:
    reply = edge.request("POST", "/v1/users", {"email": unique_email(name), "display_name": name})
    assert reply.status == 200, reply.body
    user: dict[str, Any] = reply.json()["user"]
    return user


def test_v1_create_get_and_list_over_rest(edge: Envoy) -> None:
    created = create_v1(edge, "ada")
    assert set(created) == {"user_id", "email", "display_name", "create_time", "update_time"}
    got = edge.request(
        "GET", f"/v1/users/{created['user_id']}", headers=as_user(edge, created["user_id"])
    )
    assert (got.status, got.json()) == (200, {"user": created})
    listed = edge.request("GET", "/v1/users?page_size=100", headers=as_admin(edge))
    assert created in listed.json()["users"]


def reason(reply: Any) -> str:
    """The ErrorInfo reason among a REST error's details."""
    details = reply.json()["details"]
    return str(next(d["reason"] for d in details if d["@type"].endswith("rpc.ErrorInfo")))


def test_email_verification_with_the_code_from_the_mail(edge: Envoy, mail_sink: MailSink) -> None:
    """The flow in the README: the owner asks for a code, reads the mail, sends the code."""
    email = unique_email("grace")
    created = edge.request(
        "POST", "/v2/users", {"email": email, "name": {"given_name": "Grace"}}
    ).json()["user"]
    user_id, owner = created["user_id"], as_user(edge, created["user_id"])
    send, verify = f"/v2/users/{user_id}:sendEmailVerification", f"/v2/users/{user_id}:verifyEmail"

    assert edge.request("POST", send, {}, as_user(edge, str(uuid.uuid4()))).status == 403
    sent = edge.request("POST", send, {}, owner)
    assert (sent.status, sent.json()) == (200, {"email": email, "expires_in": "600s"})
    code = mail_sink.code_for(email)
    (mail,) = mail_sink.mail_for(email)
    assert (mail.subject, mail.sender) == ("Your verification code", "no-reply@protomesh.local")

    wrong = edge.request("POST", verify, {"code": f"{(int(code) + 1) % 10**6:06d}"}, owner)
    assert (wrong.status, reason(wrong)) == (400, "VERIFICATION_CODE_WRONG")
    assert edge.request("POST", verify, {"code": "12ab"}, owner).status == 400
    verified = edge.request("POST", verify, {"code": code}, owner)
    assert verified.status == 200, verified.body
    assert verified.json()["user"]["email_verification"] == "EMAIL_VERIFICATION_VERIFIED"
    again = edge.request("POST", verify, {"code": code}, owner)
    assert (again.status, reason(again)) == (400, "VERIFICATION_CODE_USED")
    done = edge.request("POST", send, {}, owner)
    assert (done.status, reason(done)) == (400, "EMAIL_ALREADY_VERIFIED")


def test_an_idempotency_key_header_makes_a_rest_create_retry_safe(edge: Envoy) -> None:
    body = {"email": unique_email("retry"), "display_name": "Retry"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = edge.request("POST", "/v1/users", body, headers=headers)
    assert first.status == 200, first.body
    again = edge.request("POST", "/v1/users", body, headers=headers)
    assert (again.status, again.json()) == (200, first.json())  # not 409: answered, not re-run
    unkeyed = edge.request("POST", "/v1/users", body)
    assert unkeyed.status == 409, unkeyed.body
    other = edge.request("POST", "/v1/users", {**body, "display_name": "Eve"}, headers=headers)
    assert other.status == 400, other.body
    assert "already used" in other.json()["message"]


def test_v2_is_served_beside_v1_over_the_same_data(edge: Envoy) -> None:
    body = {
        "email": unique_email("grace"),
        "name": {"given_name": "Grace", "family_name": "Hopper"},
    }
    created = edge.request("POST", "/v2/users", body)
    assert created.status == 200, created.body
    user = created.json()["user"]
    assert user["name"] == {"given_name": "Grace", "family_name": "Hopper"}
    assert user["email_verification"] == "EMAIL_VERIFICATION_UNVERIFIED"
    mine = as_user(edge, user["user_id"])
    through_v1 = edge.request("GET", f"/v1/users/{user['user_id']}", headers=mine).json()["user"]
    assert through_v1["email"] == body["email"]
    listed = edge.request(
        "GET",
        "/v2/users?page_size=100&email_verification=EMAIL_VERIFICATION_UNVERIFIED",
        headers=as_admin(edge),
    )
    assert user["user_id"] in [u["user_id"] for u in listed.json()["users"]]


def test_json_uses_proto_field_names_and_prints_defaults(edge: Envoy) -> None:
    """Output is snake_case, as the .proto and the API docs spell it; input takes both."""
    reply = edge.request("POST", "/v1/users", {"email": unique_email("lin"), "displayName": "Lin"})
    user = reply.json()["user"]
    assert user["display_name"] == "Lin"
    assert "displayName" not in user
    empty_page = edge.request("GET", "/v1/users?page_size=1&page_token=", headers=as_admin(edge))
    assert "next_page_token" in empty_page.json()


def test_service_errors_become_http_statuses_with_their_details(edge: Envoy) -> None:
    missing = edge.request("GET", f"/v1/users/{uuid.uuid4()}")
    assert missing.status == 404
    assert missing.json()["details"][0]["@type"] == "type.googleapis.com/google.rpc.ResourceInfo"
    invalid = edge.request("GET", "/v1/users/not-a-uuid")
    assert invalid.status == 400
    violations = invalid.json()["details"][0]["field_violations"]
    assert [v["field"] for v in violations] == ["user_id"]
    first = create_v1(edge, "twin")
    again = edge.request("POST", "/v1/users", {"email": first["email"], "display_name": "x"})
    assert again.status == 409
    assert again.json()["code"] == 6


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/users", b'{"email": "a@example.com", ', 400),
        ("/v1/users", b"[1, 2, 3]", 400),
        ("/v1/no/such/path", b"{}", 404),
        ("/v3/users", b"{}", 404),
    ],
)
def test_bad_requests_get_json_refusals_never_503(
    edge: Envoy, path: str, body: bytes, status: int
) -> None:
    reply = edge.request("POST", path, raw=body)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["message"]


def test_an_unknown_query_parameter_is_refused(edge: Envoy) -> None:
    reply = edge.request("GET", "/v1/users?page_sise=5")
    assert reply.status == 400
    assert "page_sise" in reply.json()["message"]


def test_unknown_json_body_fields_are_refused_by_name(edge: Envoy) -> None:
    """The transcoder alone would drop them (envoy#46623): the strict JSON check refuses them.

    A misspelt field is named as the caller spelt it, not reported as the real
    field missing (docs/edge.md; tests/integration/test_edge_strict_json.py).
    """
    extra = {"email": unique_email("extra"), "display_name": "Extra", "is_admin": True}
    refused = edge.request("POST", "/v1/users", extra)
    assert refused.status == 400
    assert refused.json()["details"][0]["field_violations"][0]["field"] == "is_admin"
    typo = {"email": unique_email("typo"), "display_nmae": "Typo"}
    refused = edge.request("POST", "/v1/users", typo)
    assert refused.status == 400
    assert refused.json()["details"][0]["field_violations"][0]["field"] == "display_nmae"


def test_a_body_over_the_limit_is_refused_with_413(edge: Envoy) -> None:
    limit = edge.edge.max_request_bytes
    padding = "x" * limit
    reply = edge.request("POST", "/v1/users", {"email": "a@example.com", "display_name": padding})
    assert reply.status == 413
    assert reply.json()["code"] == 8


def test_grpc_clients_call_the_same_edge(edge: Envoy) -> None:
    created = create_v1(edge, "hopper")
    with grpc.insecure_channel(edge.address) as channel:
        users = v1_grpc.UserServiceStub(channel)
        mine = tuple(as_user(edge, created["user_id"]).items())
        reply = users.GetUser(
            v1.GetUserRequest(user_id=created["user_id"]), timeout=10, metadata=mine
        )
        assert reply.user.email == created["email"]
        with pytest.raises(grpc.RpcError) as raised:
            users.GetUser(v1.GetUserRequest(user_id="nope"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == ["user_id"]


def test_grpcurl_calls_through_the_edge_with_the_descriptor_set(edge: Envoy) -> None:
    """The edge has no reflection service: grpcurl reads the contracts from the descriptor set."""
    created = create_v1(edge, "curly")
    command = [
        tool("grpcurl"),
        "-plaintext",
        "-H",
        f"authorization: Bearer {edge.token(created['user_id'])}",
        "-protoset",
        str(edge.directory / "edge.binpb"),
        "-d",
        json.dumps({"user_id": created["user_id"]}),
        edge.address,
        "shop.user.v2.UserService/GetUser",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user"]["email"] == created["email"]


def test_one_request_id_in_the_reply_the_access_log_and_the_service_log(
    edge: Envoy, user: ServiceProcess
) -> None:
    sent = f"test-{uuid.uuid4()}"
    admin = as_admin(edge)
    reply = edge.request("GET", "/v1/users?page_size=1", headers={"x-request-id": sent, **admin})
    assert reply.headers["x-request-id"] == sent
    generated = edge.request("GET", "/v1/users?page_size=1", headers=admin).headers["x-request-id"]
    for request_id in (sent, generated):
        access = edge.wait_for_access_log(request_id)
        assert access[0]["rpc"] == "/shop.user.v1.UserService/ListUsers"
        assert access[0]["method"] == "GET"
        service_lines = [json.loads(line) for line in user.log().splitlines() if request_id in line]
        assert service_lines[0]["request_id"] == request_id
        assert service_lines[0]["rpc_method"] == "/shop.user.v1.UserService/ListUsers"


def test_replies_match_the_edge_openapi_document(edge: Envoy) -> None:
    """The document's reply schemas (proto names, required fields, JSON types) hold for what
    the edge really prints, errors included."""
    document = edge.request("GET", "/openapi.json").json()
    created = edge.request(
        "POST", "/v2/users", {"email": unique_email("ada"), "name": {"given_name": "Ada"}}
    )
    check_reply(document, created.json(), "/v2/users", "post")
    user = created.json()["user"]
    assert set(user) <= set(document["components"]["schemas"]["shop.user.v2.User"]["properties"])
    got = edge.request("GET", f"/v2/users/{user['user_id']}")
    check_reply(document, got.json(), "/v2/users/{user_id}", "get")
    listed = edge.request("GET", "/v2/users?page_size=2", headers=as_admin(edge))
    check_reply(document, listed.json(), "/v2/users", "get")
    v1_created = edge.request(
        "POST", "/v1/users", {"email": unique_email("alan"), "display_name": "Alan"}
    )
    check_reply(document, v1_created.json(), "/v1/users", "post")
    missing = edge.request("GET", f"/v1/users/{uuid.uuid4()}")
    assert missing.status == 404
    check_reply(document, missing.json(), "/v1/users/{user_id}", "get", 404)
    bad = edge.request("POST", "/v1/users", {"email": "nope"})
    assert bad.status == 400
    check_reply(document, bad.json(), "/v1/users", "post", 400)
