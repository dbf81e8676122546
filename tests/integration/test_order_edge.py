"""PlaceOrder as a REST client sees it: through the real Envoy edge, with a
JWT and an `Idempotency-Key` header, to the real order and user services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.openapi import check_reply
from tests.support.order_service import running_user_and_order, schema_of
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    directory = tmp_path_factory.mktemp("order-edge")
    with running_user_and_order(postgres, directory) as services:
        yield services


@pytest.fixture(scope="module")
def edge(
    services: tuple[ServiceProcess, ServiceProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Envoy]:
    users, orders = services
    mesh = edge_mesh([users.port], order_ports=[orders.port])
    with running_envoy(mesh, Path(tmp_path_factory.mktemp("edge"))) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


@pytest.fixture(scope="module")
def customer(edge: Envoy) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    reply = edge.request("POST", "/v1/users", {"email": email, "display_name": "Rest"})
    assert reply.status == 200, reply.body
    user_id: str = reply.json()["user"]["user_id"]
    return user_id


def order_body(customer: str, quantity: int = 1) -> dict[str, Any]:
    price = {"currency_code": "EUR", "amount_minor": "1250"}
    return {
        "customer_id": customer,
        "items": [{"sku": "LAMP", "quantity": quantity, "unit_price": price}],
    }


async def orders_of(postgres: Postgres, service: ServiceProcess, customer: str) -> int:
    connection = await postgres.connect()
    try:
        count: int = await connection.fetchval(
            f"SELECT count(*) FROM {schema_of(service)}.orders WHERE customer_id = $1",
            uuid.UUID(customer),
        )
    finally:
        await connection.close()
    return count


async def test_an_idempotency_key_header_makes_a_rest_retry_safe(
    edge: Envoy, customer: str, postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    headers = {
        "authorization": f"Bearer {edge.token(customer)}",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    first = edge.request("POST", "/v1/orders", order_body(customer), headers=headers)
    assert first.status == 200, first.body
    order = first.json()["order"]
    assert (order["customer_id"], order["status"]) == (customer, "ORDER_STATUS_PENDING")
    again = edge.request("POST", "/v1/orders", order_body(customer), headers=headers)
    assert (again.status, again.json()) == (200, first.json())
    assert await orders_of(postgres, services[1], customer) == 1

    other = edge.request("POST", "/v1/orders", order_body(customer, 2), headers=headers)
    assert other.status == 400, other.body
    assert "already used" in other.json()["message"]
    assert await orders_of(postgres, services[1], customer) == 1


def test_orders_need_a_signed_in_owner(edge: Envoy, customer: str) -> None:
    anonymous = edge.request("POST", "/v1/orders", order_body(customer))
    assert anonymous.status == 401
    stranger = {"authorization": f"Bearer {edge.token(str(uuid.uuid4()))}"}
    foreign = edge.request("GET", f"/v1/customers/{customer}/orders", headers=stranger)
    assert foreign.status == 403, foreign.body
    mine = {"authorization": f"Bearer {edge.token(customer)}"}
    listed = edge.request("GET", f"/v1/customers/{customer}/orders", headers=mine)
    assert listed.status == 200, listed.body


def test_order_replies_match_the_edge_openapi_document(edge: Envoy, customer: str) -> None:
    """int64 amounts as strings, enums by name, timestamps: as the document says."""
    document = edge.request("GET", "/openapi.json").json()
    mine = {"authorization": f"Bearer {edge.token(customer)}"}
    placed = edge.request("POST", "/v1/orders", order_body(customer), headers=mine)
    assert placed.status == 200, placed.body
    check_reply(document, placed.json(), "/v1/orders", "post")
    order_id = placed.json()["order"]["order_id"]
    got = edge.request("GET", f"/v1/orders/{order_id}", headers=mine)
    check_reply(document, got.json(), "/v1/orders/{order_id}", "get")
    listed = edge.request("GET", f"/v1/customers/{customer}/orders", headers=mine)
    check_reply(document, listed.json(), "/v1/customers/{customer_id}/orders", "get")
    cancelled = edge.request("POST", f"/v1/orders/{order_id}:cancel", {}, headers=mine)
    assert cancelled.status == 200, cancelled.body
    check_reply(document, cancelled.json(), "/v1/orders/{order_id}:cancel", "post")
    anonymous = edge.request("GET", f"/v1/orders/{order_id}")
    assert anonymous.status == 401
    check_reply(document, anonymous.json(), "/v1/orders/{order_id}", "get", 401)


def test_another_customers_order_answers_like_a_missing_one(edge: Envoy, customer: str) -> None:
    mine = {"authorization": f"Bearer {edge.token(customer)}"}
    placed = edge.request("POST", "/v1/orders", order_body(customer), headers=mine)
    assert placed.status == 200, placed.body
    order_id = placed.json()["order"]["order_id"]
    stranger = {"authorization": f"Bearer {edge.token(str(uuid.uuid4()))}"}
    foreign = edge.request("GET", f"/v1/orders/{order_id}", headers=stranger)
    missing_id = str(uuid.uuid4())
    missing = edge.request("GET", f"/v1/orders/{missing_id}", headers=stranger)
    assert (foreign.status, missing.status) == (404, 404), (foreign.body, missing.body)
    assert foreign.json()["message"].replace(order_id, "<id>") == missing.json()["message"].replace(
        missing_id, "<id>"
    )
    cancel_foreign = edge.request("POST", f"/v1/orders/{order_id}:cancel", {}, headers=stranger)
    assert cancel_foreign.status == 404, cancel_foreign.body


def test_cancelling_twice_says_already_cancelled(edge: Envoy, customer: str) -> None:
    mine = {"authorization": f"Bearer {edge.token(customer)}"}
    placed = edge.request("POST", "/v1/orders", order_body(customer), headers=mine)
    order_id = placed.json()["order"]["order_id"]
    first = edge.request("POST", f"/v1/orders/{order_id}:cancel", {}, headers=mine)
    assert first.status == 200, first.body
    second = edge.request("POST", f"/v1/orders/{order_id}:cancel", {}, headers=mine)
    assert second.status == 400, second.body
    assert second.json()["message"] == f"order {order_id} is already CANCELLED"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/orders/%ff%fe"),
        ("POST", "/v1/orders/%ff%fe:cancel"),
        ("GET", "/v1/customers/%ff%fe/orders"),
    ],
)
def test_a_path_parameter_that_is_not_utf8_is_a_400(edge: Envoy, method: str, path: str) -> None:
    mine = {"authorization": f"Bearer {edge.token(str(uuid.uuid4()))}"}
    reply = edge.request(method, path, {} if method == "POST" else None, headers=mine)
    assert reply.status == 400, reply.body
    assert reply.json()["code"] == 3
    assert "UTF-8" in reply.json()["message"]
    assert "DecodeError" not in reply.body.decode()
