"""The order use cases over in-memory ports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from protomesh.errors import InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from protomesh.idempotency import AlreadyAnswered, IdempotentCall, IdempotentReply, KeyReused
from protomesh.principal import ANONYMOUS, INTERNAL, Viewer
from services.order import handlers
from services.order.domain import (
    IllegalTransition,
    LineItem,
    Money,
    Order,
    OrderCancelled,
    OrderNotFound,
    OrderPlaced,
    PaymentDeclined,
    Status,
    UnknownCustomer,
)
from services.order.handlers import CancelOrder, ListOrders, PlaceOrder
from tests.unit.services.order.fakes import (
    FakeCustomers,
    FakePayments,
    InMemoryOrderRepository,
    InMemoryOrders,
)

CUSTOMER = uuid.uuid4()
ITEMS = [LineItem("SKU-1", 2, Money("EUR", 250))]


class Ticking:
    """A clock that moves one second per reading, so orders have distinct times."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store() -> InMemoryOrders:
    return InMemoryOrders()


@pytest.fixture
def customers() -> FakeCustomers:
    return FakeCustomers(CUSTOMER)


@pytest.fixture
def payments() -> FakePayments:
    return FakePayments()


def once(key: str, request: bytes = b"r1", method: str = "/m/Place") -> IdempotentReply[Order]:
    """A keyed call whose transport serializes an order as its id."""
    call = IdempotentCall(key, "internal", method, request)
    return IdempotentReply(call, lambda order: str(order.id).encode())


async def place(
    store: InMemoryOrders,
    customers: FakeCustomers,
    *,
    customer: uuid.UUID = CUSTOMER,
    viewer: Viewer = INTERNAL,
    key: IdempotentReply[Order] | None = None,
    clock: Ticking | None = None,
    payments: FakePayments | None = None,
) -> Order:
    # As the servicer does: one reference per keyed request, a fresh one without a key.
    reference = f"{key.call.key}:{key.call.request_hash.hex()}" if key else str(uuid.uuid4())
    return await handlers.place_order(
        PlaceOrder(customer, ITEMS, reference),
        uow=store.unit_of_work(key),
        customers=customers,
        payments=payments or FakePayments(),
        orders=store,
        clock=clock or Ticking(),
        viewer=viewer,
    )


async def cancel(
    store: InMemoryOrders,
    command: CancelOrder,
    viewer: Viewer = INTERNAL,
    payments: FakePayments | None = None,
    key: IdempotentReply[Order] | None = None,
) -> Order:
    return await handlers.cancel_order(
        command,
        uow=store.unit_of_work(key),
        payments=payments or FakePayments(),
        clock=Ticking(),
        viewer=viewer,
    )


async def test_placing_stores_the_order_and_its_event(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    assert store.orders[order.id] == order
    [event] = store.events
    assert isinstance(event, OrderPlaced)
    assert (event.order_id, event.version) == (order.id, 1)
    assert event.total == Money("EUR", 500)


async def test_an_unknown_customer_is_a_failed_precondition(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    with pytest.raises(UnknownCustomer):
        await place(store, customers, customer=uuid.uuid4())
    assert store.orders == {}


async def test_an_unreachable_user_service_is_unavailable_and_writes_nothing(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    customers.down = True
    with pytest.raises(Unavailable):
        await place(store, customers)
    assert store.orders == {}
    assert store.events == []


async def test_a_repeat_with_one_key_replays_without_asking_again(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    first = await place(store, customers, key=once("k1"))
    with pytest.raises(AlreadyAnswered) as again:
        await place(store, customers, key=once("k1"))
    assert again.value.response == str(first.id).encode()
    assert len(store.orders) == 1
    assert customers.asked == [CUSTOMER]


async def test_one_key_with_another_request_is_refused(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    await place(store, customers, key=once("k1"))
    with pytest.raises(KeyReused, match="already used"):
        await place(store, customers, key=once("k1", request=b"other"))
    assert len(store.orders) == 1


async def test_an_end_user_places_and_sees_only_their_own_orders_others_are_not_found(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    stranger = str(uuid.uuid4())
    with pytest.raises(PermissionDenied):
        await place(store, customers, viewer=Viewer(stranger))
    order = await place(store, customers, viewer=Viewer(str(CUSTOMER)))
    assert await handlers.get_order(order.id, orders=store, viewer=Viewer(str(CUSTOMER))) == order
    assert await handlers.get_order(order.id, orders=store, viewer=INTERNAL) == order
    with pytest.raises(OrderNotFound):
        await handlers.get_order(order.id, orders=store, viewer=Viewer(stranger))
    with pytest.raises(PermissionDenied):
        await handlers.list_orders(ListOrders(CUSTOMER), orders=store, viewer=Viewer(stranger))
    with pytest.raises(OrderNotFound):
        await cancel(store, CancelOrder(order.id), viewer=Viewer(stranger))
    assert store.orders[order.id].status == Status.PENDING


async def test_a_call_with_neither_an_end_user_nor_a_mesh_identity_is_refused(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    with pytest.raises(Unauthenticated):
        await place(store, customers, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await handlers.get_order(order.id, orders=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):  # not even whether an order exists
        await handlers.get_order(uuid.uuid4(), orders=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await handlers.list_orders(ListOrders(CUSTOMER), orders=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await cancel(store, CancelOrder(order.id), ANONYMOUS)
    assert len(store.orders) == 1


async def test_another_customers_order_is_as_not_found_as_a_missing_one(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    order = await place(store, customers, viewer=Viewer(str(CUSTOMER)))
    stranger = str(uuid.uuid4())
    messages = []
    for order_id in (order.id, uuid.uuid4()):
        with pytest.raises(OrderNotFound) as hidden:
            await handlers.get_order(order_id, orders=store, viewer=Viewer(stranger))
        with pytest.raises(OrderNotFound) as not_cancelled:
            await cancel(store, CancelOrder(order_id), viewer=Viewer(stranger))
        assert hidden.value.message == not_cancelled.value.message
        messages.append(hidden.value.message.replace(str(order_id), "<id>"))
    assert messages[0] == messages[1]
    assert store.orders[order.id].status == Status.PENDING


async def test_a_missing_order_is_not_found(store: InMemoryOrders) -> None:
    with pytest.raises(OrderNotFound):
        await handlers.get_order(uuid.uuid4(), orders=store, viewer=INTERNAL)
    with pytest.raises(OrderNotFound):
        await cancel(store, CancelOrder(uuid.uuid4()))


async def test_cancel_records_an_event_and_a_second_cancel_is_illegal(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    cancelled = await cancel(store, CancelOrder(order.id, "too slow"))
    assert cancelled.version == 2
    assert isinstance(store.events[-1], OrderCancelled)
    assert store.events[-1].version == 2
    with pytest.raises(IllegalTransition):
        await cancel(store, CancelOrder(order.id))
    assert len(store.events) == 2


async def test_pages_walk_every_order_once_newest_first(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    clock = Ticking()
    placed = [await place(store, customers, clock=clock) for _ in range(5)]
    seen: list[Order] = []
    token = ""
    for _ in range(10):
        page = await handlers.list_orders(
            ListOrders(CUSTOMER, page_size=2, page_token=token), orders=store, viewer=INTERNAL
        )
        seen += page.orders
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(placed))


async def test_a_page_token_is_tied_to_its_filter(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    clock = Ticking()
    for _ in range(3):
        await place(store, customers, clock=clock)
    page = await handlers.list_orders(
        ListOrders(CUSTOMER, page_size=1), orders=store, viewer=INTERNAL
    )
    with pytest.raises(InvalidArgument, match="page_token"):
        await handlers.list_orders(
            ListOrders(
                CUSTOMER, page_size=1, page_token=page.next_page_token, status=Status.SHIPPED
            ),
            orders=store,
            viewer=INTERNAL,
        )


async def test_a_repeated_cancel_replays_instead_of_failing_on_the_cancelled_order(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    key = once("c1", method="/m/Cancel")
    first = await cancel(store, CancelOrder(order.id), INTERNAL, key=key)
    with pytest.raises(AlreadyAnswered) as again:
        await cancel(store, CancelOrder(order.id), INTERNAL, key=key)
    assert again.value.response == str(first.id).encode()
    assert len(store.events) == 2


async def test_a_failed_change_leaves_no_key_and_no_event(
    store: InMemoryOrders, customers: FakeCustomers
) -> None:
    stranger = str(uuid.uuid4())
    order = await place(store, customers)
    key = once("c2", method="/m/Cancel")
    with pytest.raises(OrderNotFound):
        await cancel(store, CancelOrder(order.id), Viewer(stranger), key=key)
    assert store.ledger.replies == {}
    assert len(store.events) == 1
    retried = await cancel(store, CancelOrder(order.id), INTERNAL, key=key)
    assert retried.status == Status.CANCELLED


async def test_placing_holds_the_total_and_the_order_knows_its_hold(
    store: InMemoryOrders, customers: FakeCustomers, payments: FakePayments
) -> None:
    order = await place(store, customers, payments=payments)
    [hold] = payments.held
    assert store.orders[order.id].payment == hold
    assert hold.amount == order.total


async def test_a_declined_payment_writes_nothing(
    store: InMemoryOrders, customers: FakeCustomers, payments: FakePayments
) -> None:
    payments.declining = True
    with pytest.raises(PaymentDeclined):
        await place(store, customers, payments=payments)
    assert (store.orders, store.events) == ({}, [])


async def test_a_provider_outage_is_unavailable_and_writes_nothing(
    store: InMemoryOrders, customers: FakeCustomers, payments: FakePayments
) -> None:
    payments.down = True
    with pytest.raises(Unavailable):
        await place(store, customers, payments=payments)
    assert (store.orders, store.events) == ({}, [])


async def test_a_failed_transaction_voids_the_hold(
    store: InMemoryOrders,
    customers: FakeCustomers,
    payments: FakePayments,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(self: object, order: Order) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(InMemoryOrderRepository, "add", broken)
    with pytest.raises(ConnectionError):
        await place(store, customers, payments=payments)
    assert store.orders == {}
    assert len(payments.holds) == 1
    assert payments.held == []


async def test_a_retry_with_one_key_holds_once_and_a_repeat_is_not_voided(
    store: InMemoryOrders, customers: FakeCustomers, payments: FakePayments
) -> None:
    first = await place(store, customers, key=once("k1"), payments=payments)
    with pytest.raises(AlreadyAnswered):
        await place(store, customers, key=once("k1"), payments=payments)
    assert payments.held == [first.payment]


async def test_cancelling_releases_the_hold_after_the_commit(
    store: InMemoryOrders, customers: FakeCustomers, payments: FakePayments
) -> None:
    order = await place(store, customers, payments=payments)
    await cancel(store, CancelOrder(order.id), payments=payments)
    assert payments.voided == [order.payment]
    with pytest.raises(IllegalTransition):
        await cancel(store, CancelOrder(order.id), payments=payments)
    assert payments.voided == [order.payment]
