"""Pattern 13: an anti-corruption layer to an external payment provider.

The real order service places orders against the real provider sandbox (its
own process, its own model: "9.99" strings, AUTH_OK/E102/E500 codes,
X-Request-Ref) and the real PostgreSQL. Proven here, each with a fault
injected at the worst moment:
- the provider's model never crosses into the order context: the domain and
  the handlers name none of it (an AST check), and the client never sees a
  provider code, even an undocumented one;
- no held payment without an order that knows it: when the transaction fails
  after the hold (a trigger makes the INSERT fail), the hold is voided;
- no CONFIRMED order without a payment (a database constraint beside the domain rule);
- a retry never charges twice: a provider too slow for our deadline still
  makes its hold, and the retry with the same Idempotency-Key finds it;
- declined → FAILED_PRECONDITION (ErrorInfo PAYMENT_DECLINED); outage →
  UNAVAILABLE with RetryInfo; a circuit breaker stops calling a provider
  that keeps failing, and its state is in the metrics.
Mutations tried: dropping the void in `handlers._release` fails
`test_a_transaction_that_fails_after_the_hold_voids_it`; a fresh provider
reference per attempt (`payment_reference` ignoring the key) fails
`test_a_retry_after_a_timeout_finds_the_first_hold`; a breaker that never
opens fails `test_a_failing_provider_opens_the_circuit`.
"""

from __future__ import annotations

import ast
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh.paths import ROOT
from tests.support import mesh_tls
from tests.support.grpc_calls import health, status_of
from tests.support.order_service import running_user_and_order, schema_of
from tests.support.otlp import scrape_metrics
from tests.support.payment_sandbox import Sandbox, running_sandbox
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration

PROVIDER_TIMEOUT = 0.5
FAILURE_THRESHOLD = 3
RESET_TIMEOUT = 1.0
# The provider's vocabulary: none of it may appear in the order context's core.
PROVIDER_WORDS = (
    "AUTH_OK",
    "E102",
    "E500",
    "E777",
    "result_code",
    "auth_id",
    "X-Request-Ref",
    "request_ref",
    "ccy",
    "processed_at",
    "payments.wire",
    "payments.transport",
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("p13") / "sandbox.log") as running:
        yield running


@pytest.fixture(scope="module")
def services(
    postgres: Postgres, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with running_user_and_order(
        postgres,
        tmp_path_factory.mktemp("p13-services"),
        payments_url=sandbox.url,
        payments_timeout=str(PROVIDER_TIMEOUT),
        payments_failure_threshold=str(FAILURE_THRESHOLD),
        payments_reset_timeout=str(RESET_TIMEOUT),
        metrics_port=str(free_port()),
    ) as running:
        yield running


@pytest.fixture
async def orders(
    services: tuple[ServiceProcess, ServiceProcess],
) -> AsyncIterator[v1_grpc.OrderServiceAsyncStub]:
    async with mesh_tls.aio_channel(services[1].address, "operator") as channel:
        yield v1_grpc.OrderServiceStub(channel)


@pytest.fixture
async def customer(services: tuple[ServiceProcess, ServiceProcess]) -> str:
    async with mesh_tls.aio_channel(services[0].address) as channel:
        created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
            user_v1.CreateUserRequest(email=f"{uuid.uuid4().hex}@example.com", display_name="P"),
            timeout=5,
        )
    return created.user.user_id


def order_for(customer: str, amount_minor: int = 999, quantity: int = 1) -> v1.PlaceOrderRequest:
    price = v1.Money(currency_code="EUR", amount_minor=amount_minor)
    return v1.PlaceOrderRequest(
        customer_id=customer, items=[v1.LineItem(sku="MUG", quantity=quantity, unit_price=price)]
    )


def keyed(key: str) -> tuple[tuple[str, str]]:
    return (("idempotency-key", key),)


async def stored(
    postgres: Postgres, service: ServiceProcess, customer: str
) -> list[asyncpg.Record]:
    connection = await postgres.connect()
    try:
        return list(
            await connection.fetch(
                f"SELECT id, status, payment_reference FROM {schema_of(service)}.orders"
                " WHERE customer_id = $1",
                uuid.UUID(customer),
            )
        )
    finally:
        await connection.close()


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for detail in status_of(error).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo")


def has_retry_info(error: grpc.aio.AioRpcError) -> bool:
    return any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status_of(error).details)


def names_in(path: Path) -> set[str]:
    """Every identifier, attribute, import and string constant of a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


@pytest.mark.parametrize("module", ["services/order/domain.py", "services/order/handlers.py"])
def test_the_order_core_names_nothing_of_the_provider(module: str) -> None:
    names = names_in(ROOT / module)
    leaked = sorted(w for w in PROVIDER_WORDS if any(w in name for name in names))
    assert leaked == []
    assert not any(name.startswith("services.order.payments") for name in names)


def test_the_check_sees_the_provider_s_words_where_they_live() -> None:
    """The AST check is not blind: the adapter's own modules are full of them."""
    adapter = names_in(ROOT / "services/order/payments/wire.py")
    assert {"AUTH_OK", "E102", "E500", "result_code", "X-Request-Ref"} <= adapter


async def test_a_placed_order_knows_its_hold_in_the_provider_s_terms(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    placed = await orders.PlaceOrder(order_for(customer, 1250, 2), timeout=5)
    [row] = await stored(postgres, services[1], customer)
    [hold] = [a for a in sandbox.authorisations() if a["auth_id"] == row["payment_reference"]]
    assert (hold["amount"], hold["ccy"], hold["state"]) == ("25.00", "EUR", "HELD")
    assert placed.order.status == v1.ORDER_STATUS_PENDING


async def test_a_decline_is_a_failed_precondition_with_a_stable_reason(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    sandbox.inject("decline")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.PlaceOrder(order_for(customer), timeout=5)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value).reason == "PAYMENT_DECLINED"
    assert "E102" not in str(status_of(refused.value))
    assert await stored(postgres, services[1], customer) == []


@pytest.fixture(params=["fail", "garble"])
def fault(request: pytest.FixtureRequest, sandbox: Sandbox) -> str:
    """The provider's next call fails (HTTP 503, E500) or answers an undocumented code."""
    mode: str = request.param
    sandbox.inject(mode)
    return mode


async def test_an_outage_or_an_unknown_answer_is_unavailable_and_never_shown(
    fault: str,
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.PlaceOrder(order_for(customer), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert has_retry_info(refused.value)
    shown = str(status_of(refused.value))
    assert "E500" not in shown
    assert "E777" not in shown
    assert await stored(postgres, services[1], customer) == []
    if fault == "garble":
        assert "E777" in services[1].log()  # logged for the operator, not for the client


async def test_a_transaction_that_fails_after_the_hold_voids_it(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    schema = schema_of(services[1])
    connection = await postgres.connect()
    try:
        # The worst moment: the payment is held, then the order cannot be written.
        await connection.execute(
            f"CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN RAISE EXCEPTION 'disk full (injected)'; END$$;"
            f" CREATE TRIGGER refuse BEFORE INSERT ON {schema}.orders"
            f" FOR EACH ROW EXECUTE FUNCTION {schema}.refuse()"
        )
        before = {a["auth_id"] for a in sandbox.authorisations()}
        with pytest.raises(grpc.aio.AioRpcError):
            await orders.PlaceOrder(order_for(customer, 4321), timeout=5)
    finally:
        await connection.execute(
            f"DROP TRIGGER IF EXISTS refuse ON {schema}.orders;"
            f" DROP FUNCTION IF EXISTS {schema}.refuse()"
        )
        await connection.close()
    [made] = [a for a in sandbox.authorisations() if a["auth_id"] not in before]
    assert (made["amount"], made["state"]) == ("43.21", "VOIDED")
    assert await stored(postgres, services[1], customer) == []


async def test_no_order_is_confirmed_without_a_payment(
    postgres: Postgres, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    schema = schema_of(services[1])
    connection = await postgres.connect()
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="orders_confirmed_are_paid"):
            await connection.execute(
                f"INSERT INTO {schema}.orders (id, customer_id, items, currency, total_minor,"
                " status, version, created_at, updated_at)"
                " VALUES ($1, $2, '[]', 'EUR', 1, 'CONFIRMED', 2, now(), now())",
                uuid.uuid4(),
                uuid.uuid4(),
            )
    finally:
        await connection.close()


async def test_a_retry_after_a_timeout_finds_the_first_hold(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    key = str(uuid.uuid4())
    before = {a["auth_id"] for a in sandbox.authorisations()}
    # The provider makes the hold but answers after our deadline: the worst moment.
    sandbox.inject("slow", delay=PROVIDER_TIMEOUT * 3)
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await orders.PlaceOrder(order_for(customer, 777), metadata=keyed(key), timeout=5)
    assert first.value.code() == grpc.StatusCode.UNAVAILABLE
    await asyncio.sleep(PROVIDER_TIMEOUT * 3)  # the slow answer has been sent by now
    placed = await orders.PlaceOrder(order_for(customer, 777), metadata=keyed(key), timeout=5)
    again = await orders.PlaceOrder(order_for(customer, 777), metadata=keyed(key), timeout=5)
    assert again == placed
    made = [a for a in sandbox.authorisations() if a["auth_id"] not in before]
    assert [(a["amount"], a["state"]) for a in made] == [("7.77", "HELD")]
    [row] = await stored(postgres, services[1], customer)
    assert row["payment_reference"] == made[0]["auth_id"]


async def test_a_failing_provider_opens_the_circuit(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    port = services[1].env["ORDER_SERVICE_METRICS_PORT"]
    state = ("circuit_breaker_state", (("breaker", "payments"),))
    sandbox.inject("fail", count=FAILURE_THRESHOLD)
    for _ in range(FAILURE_THRESHOLD):
        with pytest.raises(grpc.aio.AioRpcError):
            await orders.PlaceOrder(order_for(customer), timeout=5)
    assert scrape_metrics(port)[state] == 2  # open
    calls_before = len(sandbox.authorisations())
    # The provider is fine again, but the open circuit does not ask it.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.PlaceOrder(order_for(customer), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert has_retry_info(refused.value)
    assert len(sandbox.authorisations()) == calls_before
    await asyncio.sleep(RESET_TIMEOUT + 0.2)
    await orders.PlaceOrder(order_for(customer), timeout=5)  # the trial call closes it
    assert scrape_metrics(port)[state] == 0


async def test_cancelling_an_order_releases_its_hold(
    orders: v1_grpc.OrderServiceAsyncStub,
    customer: str,
    sandbox: Sandbox,
    postgres: Postgres,
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    placed = await orders.PlaceOrder(order_for(customer, 315), timeout=5)
    await orders.CancelOrder(v1.CancelOrderRequest(order_id=placed.order.order_id), timeout=5)
    [row] = await stored(postgres, services[1], customer)
    [hold] = [a for a in sandbox.authorisations() if a["auth_id"] == row["payment_reference"]]
    assert (row["status"], hold["state"]) == ("CANCELLED", "VOIDED")


def test_the_provider_s_health_is_reported_without_taking_the_service_out(
    services: tuple[ServiceProcess, ServiceProcess],
) -> None:
    services[1].wait_for_health("SERVING")  # the service overall, as before
    seen = ""
    for _ in range(50):  # the readiness monitor checks every 0.1 s
        seen = health(services[1].address, "payments")
        if seen == "SERVING":
            break
        time.sleep(0.1)
    assert seen == "SERVING"
