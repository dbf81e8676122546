"""The order use cases over in-memory ports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from protomesh.errors import InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from protomesh.idempotency import IdempotentCall, KeyReused, Replayed
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
    Status,
    UnknownCustomer,
)
from services.order.handlers import CancelOrder, ListOrders, Once, PlaceOrder
from tests.unit.order.fakes import FakeCustomers, InMemoryOrderStore

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
def store() -> InMemoryOrderStore:
    return InMemoryOrderStore()


@pytest.fixture
def customers() -> FakeCustomers:
    return FakeCustomers(CUSTOMER)


def once(key: str, request: bytes = b"r1", method: str = "/m/Place") -> Once:
    call = IdempotentCall(key, "internal", method, request)
    return Once(call, lambda order: str(order.id).encode())


async def place(
    store: InMemoryOrderStore,
    customers: FakeCustomers,
    *,
    customer: uuid.UUID = CUSTOMER,
    viewer: Viewer = INTERNAL,
    key: Once | None = None,
    clock: Ticking | None = None,
) -> Order | Replayed:
    return await handlers.place_order(
        PlaceOrder(customer, ITEMS),
        store=store,
        customers=customers,
        clock=clock or Ticking(),
        viewer=viewer,
        once=key,
    )


async def test_placing_stores_the_order_and_its_event(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    assert isinstance(order, Order)
    assert store.orders[order.id] == order
    [(aggregate, sequence, event)] = store.events
    assert (aggregate, sequence) == (order.id, 1)
    assert isinstance(event, OrderPlaced)
    assert event.total == Money("EUR", 500)


async def test_an_unknown_customer_is_a_failed_precondition(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    with pytest.raises(UnknownCustomer):
        await place(store, customers, customer=uuid.uuid4())
    assert store.orders == {}


async def test_an_unreachable_user_service_is_unavailable_and_writes_nothing(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    customers.down = True
    with pytest.raises(Unavailable):
        await place(store, customers)
    assert store.orders == {}
    assert store.events == []


async def test_a_repeat_with_one_key_replays_without_asking_again(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    first = await place(store, customers, key=once("k1"))
    assert isinstance(first, Order)
    again = await place(store, customers, key=once("k1"))
    assert again == Replayed(str(first.id).encode())
    assert len(store.orders) == 1
    assert customers.asked == [CUSTOMER]


async def test_one_key_with_another_request_is_refused(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    await place(store, customers, key=once("k1"))
    with pytest.raises(KeyReused, match="already used"):
        await place(store, customers, key=once("k1", request=b"other"))
    assert len(store.orders) == 1


async def test_an_end_user_places_and_sees_only_their_own_orders(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    stranger = str(uuid.uuid4())
    with pytest.raises(PermissionDenied):
        await place(store, customers, viewer=Viewer(stranger))
    order = await place(store, customers, viewer=Viewer(str(CUSTOMER)))
    assert isinstance(order, Order)
    assert await handlers.get_order(order.id, store=store, viewer=Viewer(str(CUSTOMER))) == order
    assert await handlers.get_order(order.id, store=store, viewer=INTERNAL) == order
    with pytest.raises(PermissionDenied):
        await handlers.get_order(order.id, store=store, viewer=Viewer(stranger))
    with pytest.raises(PermissionDenied):
        await handlers.list_orders(ListOrders(CUSTOMER), store=store, viewer=Viewer(stranger))
    with pytest.raises(PermissionDenied):
        await handlers.cancel_order(
            CancelOrder(order.id), store=store, clock=Ticking(), viewer=Viewer(stranger), once=None
        )
    assert store.orders[order.id].status == Status.PENDING


async def test_a_call_with_neither_an_end_user_nor_a_mesh_identity_is_refused(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    assert isinstance(order, Order)
    with pytest.raises(Unauthenticated):
        await place(store, customers, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await handlers.get_order(order.id, store=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):  # not even whether an order exists
        await handlers.get_order(uuid.uuid4(), store=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await handlers.list_orders(ListOrders(CUSTOMER), store=store, viewer=ANONYMOUS)
    with pytest.raises(Unauthenticated):
        await handlers.cancel_order(
            CancelOrder(order.id), store=store, clock=Ticking(), viewer=ANONYMOUS, once=None
        )
    assert len(store.orders) == 1


async def test_a_missing_order_is_not_found(store: InMemoryOrderStore) -> None:
    with pytest.raises(OrderNotFound):
        await handlers.get_order(uuid.uuid4(), store=store, viewer=INTERNAL)
    with pytest.raises(OrderNotFound):
        await handlers.cancel_order(
            CancelOrder(uuid.uuid4()), store=store, clock=Ticking(), viewer=INTERNAL, once=None
        )


async def test_cancel_records_an_event_and_a_second_cancel_is_illegal(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    order = await place(store, customers)
    assert isinstance(order, Order)
    cancelled = await handlers.cancel_order(
        CancelOrder(order.id, "too slow"), store=store, clock=Ticking(), viewer=INTERNAL, once=None
    )
    assert isinstance(cancelled, Order)
    assert cancelled.version == 2
    assert isinstance(store.events[-1][2], OrderCancelled)
    with pytest.raises(IllegalTransition):
        await handlers.cancel_order(
            CancelOrder(order.id), store=store, clock=Ticking(), viewer=INTERNAL, once=None
        )
    assert len(store.events) == 2


async def test_pages_walk_every_order_once_newest_first(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    clock = Ticking()
    placed = [await place(store, customers, clock=clock) for _ in range(5)]
    seen: list[Order] = []
    token = ""
    for _ in range(10):
        page = await handlers.list_orders(
            ListOrders(CUSTOMER, page_size=2, page_token=token), store=store, viewer=INTERNAL
        )
        seen += page.orders
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(placed))


async def test_a_page_token_is_tied_to_its_filter(
    store: InMemoryOrderStore, customers: FakeCustomers
) -> None:
    clock = Ticking()
    for _ in range(3):
        await place(store, customers, clock=clock)
    page = await handlers.list_orders(
        ListOrders(CUSTOMER, page_size=1), store=store, viewer=INTERNAL
    )
    with pytest.raises(InvalidArgument, match="page_token"):
        await handlers.list_orders(
            ListOrders(
                CUSTOMER, page_size=1, page_token=page.next_page_token, status=Status.SHIPPED
            ),
            store=store,
            viewer=INTERNAL,
        )
