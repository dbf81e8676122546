"""Strict JSON at the real Envoy edge: a body field the request message lacks is a 400.

The transcoder alone drops unknown fields (envoy#46623); the strict JSON
filter before it refuses them at any depth, naming the path, in the edge's
google.rpc.Status shape. Both field spellings pass, a route with
`strict_json: false` keeps the old behaviour, and JSON that does not parse
gets the transcoder's refusal as before. Real user and order services behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc as v2_grpc

from tests.support.envoy import Envoy, Reply, edge_mesh, running_envoy
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
LENIENT_ROUTE = "shop.user.v1.UserService/CreateUser"


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with running_user_and_order(postgres, tmp_path_factory.mktemp("strict-json")) as services:
        yield services


@pytest.fixture(scope="module")
def edge(
    services: tuple[ServiceProcess, ServiceProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Envoy]:
    def lenient_v1_create(document: dict[str, Any]) -> None:
        document["edge"]["routes"][LENIENT_ROUTE]["strict_json"] = False

    users, orders = services
    mesh = edge_mesh([users.port], lenient_v1_create, order_ports=[orders.port])
    with running_envoy(mesh, Path(tmp_path_factory.mktemp("edge"))) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


@pytest.fixture(scope="module")
def customer(edge: Envoy) -> str:
    reply = edge.request("POST", "/v2/users", new_user())
    assert reply.status == 200, reply.body
    user_id: str = reply.json()["user"]["user_id"]
    return user_id


def unique_email() -> str:
    return f"strict.{uuid.uuid4().hex[:10]}@example.com"


def new_user() -> dict[str, Any]:
    return {"email": unique_email(), "name": {"given_name": "Ada"}}


def violations(reply: Reply) -> list[str]:
    """The refusal's field paths, after checking it has the edge's whole error shape."""
    assert reply.status == 400, reply.body
    assert reply.headers["content-type"] == "application/json"
    document = reply.json()
    assert set(document) == {"code", "message", "details"}
    assert document["code"] == 3
    bad_request, info = document["details"]
    assert bad_request["@type"] == BAD_REQUEST
    assert info["@type"] == ERROR_INFO
    assert info["domain"] == "edge.protomesh"
    assert info["metadata"]["request_id"] == reply.headers["x-request-id"]
    fields = [violation["field"] for violation in bad_request["field_violations"]]
    assert all(field in document["message"] for field in fields)
    return fields


def place_order(edge: Envoy, customer: str, body: dict[str, Any]) -> Reply:
    headers = {"authorization": f"Bearer {edge.token(customer)}"}
    return edge.request("POST", "/v1/orders", body, headers=headers)


def test_a_misspelt_top_level_field_is_refused_by_name(edge: Envoy) -> None:
    reply = edge.request("POST", "/v2/users", {"email": unique_email(), "nmae": {}})
    assert violations(reply) == ["nmae"]
    description = reply.json()["details"][0]["field_violations"][0]["description"]
    assert "shop.user.v2.CreateUserRequest" in description


def test_an_unknown_field_in_a_nested_message_is_named_by_its_path(edge: Envoy) -> None:
    body = {"email": unique_email(), "name": {"given_name": "Ada", "famly_name": "Lovelace"}}
    assert violations(edge.request("POST", "/v2/users", body)) == ["name.famly_name"]


def test_unknown_fields_in_repeated_messages_are_named_with_their_index(
    edge: Envoy, customer: str
) -> None:
    price = {"currency_code": "EUR", "amount_minor": "100"}
    body = {
        "customer_id": customer,
        "items": [
            {"sku": "A", "quantity": 1, "unit_price": price},
            {"skuu": "B", "quantity": 1, "unitPrice": {**price, "cents": 3}},
        ],
    }
    assert violations(place_order(edge, customer, body)) == [
        "items[1].skuu",
        "items[1].unitPrice.cents",
    ]


def test_proto_names_and_json_names_are_both_accepted_at_every_depth(
    edge: Envoy, customer: str
) -> None:
    user = {"email": unique_email(), "name": {"givenName": "Ada", "family_name": "Lovelace"}}
    created = edge.request("POST", "/v2/users", user)
    assert created.status == 200, created.body
    assert created.json()["user"]["name"] == {"given_name": "Ada", "family_name": "Lovelace"}
    price = {"currencyCode": "EUR", "amount_minor": "1250"}
    order = {"customerId": customer, "items": [{"sku": "LAMP", "quantity": 2, "unitPrice": price}]}
    placed = place_order(edge, customer, order)
    assert placed.status == 200, placed.body
    assert placed.json()["order"]["items"][0]["unit_price"]["amount_minor"] == "1250"


def test_escaped_keys_are_read_as_the_transcoder_reads_them(edge: Envoy) -> None:
    email = unique_email()
    known = b'{"em\\u0061il": "' + email.encode() + b'", "name": {"given\\u005fname": "Ada"}}'
    assert edge.request("POST", "/v2/users", raw=known).status == 200
    unknown = b'{"email": "x@example.com", "n\\u0061me": {"\\"quoted\\"": 1}}'
    assert violations(edge.request("POST", "/v2/users", raw=unknown)) == ['name."quoted"']


@pytest.mark.parametrize("quote", ["'", ""])
def test_the_lenient_json_the_transcoder_takes_is_checked_too(edge: Envoy, quote: str) -> None:
    """protobuf's parser takes single-quoted strings and unquoted keys; so does the check."""

    def body(*extra: str) -> bytes:
        keys = ["email", "name", *extra]
        values = [
            f"'{unique_email()}'",
            f"{{{quote}given_name{quote}: 'Ada'}}",
            *["1"] * len(extra),
        ]
        pairs = ", ".join(f"{quote}{k}{quote}: {v}" for k, v in zip(keys, values, strict=True))
        return ("{" + pairs + "}").encode()

    assert edge.request("POST", "/v2/users", raw=body()).status == 200
    assert violations(edge.request("POST", "/v2/users", raw=body("bogus"))) == ["bogus"]


@pytest.mark.parametrize(
    "template",
    [
        '{"email": "%s", "name": {"given_name": "A",}, "zz": [{"x": 1},],}',
        '{\f"email": "%s",\v"name": {"given_name": "A"}, "zz": 1}',
    ],
)
def test_trailing_commas_and_any_ascii_space_are_read_too(edge: Envoy, template: str) -> None:
    """The transcoder takes both, and would drop `zz`: the check must read them."""
    body = (template % unique_email()).encode()
    assert violations(edge.request("POST", "/v2/users", raw=body)) == ["zz"]
    clean = body.replace(b', "zz": [{"x": 1},]', b"").replace(b', "zz": 1', b"")
    assert edge.request("POST", "/v2/users", raw=clean).status == 200


def test_a_route_with_strict_json_off_drops_unknown_fields_as_before(edge: Envoy) -> None:
    body = {"email": unique_email(), "display_name": "Extra", "is_admin": True}
    created = edge.request("POST", "/v1/users", body)
    assert created.status == 200, created.body
    assert "is_admin" not in created.json()["user"]
    # The other routes of the same service are still checked.
    patched = edge.request("PATCH", f"/v1/users/{uuid.uuid4()}", {"display_nmae": "x"})
    assert violations(patched) == ["display_nmae"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": ',
        b'{"bogus": 1, "email": ',
        b'{"bogus": 1} trailing',
        b"[1, 2, 3]",
        # 101 levels: the scanner gives up here, and the transcoder refuses it too
        b'{"bogus": ' + b"[" * 100 + b"]" * 100 + b"}",
    ],
)
def test_json_that_does_not_parse_gets_the_transcoder_refusal_as_before(
    edge: Envoy, body: bytes
) -> None:
    reply = edge.request("POST", "/v2/users", raw=body)
    assert reply.status == 400
    document = reply.json()
    assert document["code"] == 3
    info = document["details"][0]
    assert info["@type"] == ERROR_INFO
    assert info["metadata"]["envoy"] == "grpc_json_transcode_failure{INVALID_ARGUMENT}"


def test_grpc_callers_are_not_checked_for_json(edge: Envoy) -> None:
    with grpc.insecure_channel(edge.address) as channel:
        users = v2_grpc.UserServiceStub(channel)
        request = v2.CreateUserRequest(email=unique_email(), name=v2.PersonName(given_name="G"))
        reply = users.CreateUser(request, timeout=10)
    assert reply.user.user_id


def test_a_body_on_a_route_without_one_is_left_to_the_transcoder(edge: Envoy) -> None:
    """GET bindings take no body: nothing to check, the call goes on as before."""
    admin = {"authorization": f"Bearer {edge.token('root', claims={'roles': ['admin']})}"}
    reply = edge.request("GET", "/v2/users?page_size=1", {"bogus": 1}, headers=admin)
    assert reply.status == 200, reply.body


def test_the_script_never_failed(edge: Envoy) -> None:
    """A Lua error lets the request through unchecked; Envoy only counts it. Runs last."""
    errors = {name: value for name, value in edge.stats().items() if name.endswith("errors")}
    counted = [name for name in errors if "strict_json" in name]
    assert counted, sorted(errors)
    assert all(errors[name] == 0 for name in counted), errors
