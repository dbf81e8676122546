"""The user and order services as the BFF reads them: gRPC in, domain values out.

Calls go over the registry's channels (mTLS as `bff`). Calls to the order
service carry the end user (`x-jwt-sub`): mesh.yaml lets `bff` forward one to
order (`end_user_from`), so the order service's own checks hold: ListOrders
only for that customer, GetOrder NOT_FOUND for another's order. The user
service is asked without one: GetUser of the caller's own id is all it is
asked, and as an internal call it answers with the email.

Each call gets the timeout its caller carved out; a dead service fails at
once (no wait-for-ready), so the screen can degrade instead of waiting.
"""

from __future__ import annotations

import time
from datetime import UTC

import grpc
from shop.order.v1 import order_pb2 as order_v1
from shop.order.v1 import order_pb2_grpc as order_v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh.edge_auth import SUBJECT_METADATA
from protomesh.errors import NotFound
from services.bff.domain import (
    MAX_COUNTED_ORDERS,
    MAX_RECENT_ORDERS,
    ORDER_PAGE_SIZE,
    Money,
    OrderDetail,
    OrderHistory,
    OrderLine,
    OrderSummary,
    Profile,
    SourceFailed,
)


def _failure(source: str, error: grpc.aio.AioRpcError, budget: float) -> SourceFailed:
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SourceFailed(source, f"did not answer within {budget * 1000:.0f} ms")
    return SourceFailed(source, f"did not answer ({error.code().name})")


class UserBackend:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._users = user_v1_grpc.UserServiceStub(channel)

    async def profile(self, user_id: str, budget: float) -> Profile:
        try:
            reply = await self._users.GetUser(
                user_v1.GetUserRequest(user_id=user_id), timeout=budget
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("user", user_id) from None
            raise _failure("user", error, budget) from None
        user = reply.user
        return Profile(user.user_id, user.email, user.display_name)


class OrderBackend:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._orders = order_v1_grpc.OrderServiceStub(channel)

    async def history(self, customer_id: str, budget: float) -> OrderHistory:
        """The newest orders and the count, paging ListOrders within one budget."""
        deadline = time.monotonic() + budget
        metadata = ((SUBJECT_METADATA, customer_id),)
        recent: list[OrderSummary] = []
        count, token = 0, ""
        try:
            while True:
                page = await self._orders.ListOrders(
                    order_v1.ListOrdersRequest(
                        customer_id=customer_id, page_size=ORDER_PAGE_SIZE, page_token=token
                    ),
                    timeout=max(0.001, deadline - time.monotonic()),
                    metadata=metadata,
                )
                if not recent:
                    recent = [_summary(order) for order in page.orders[:MAX_RECENT_ORDERS]]
                count += len(page.orders)
                token = page.next_page_token
                if not token or count >= MAX_COUNTED_ORDERS:
                    break
        except grpc.aio.AioRpcError as error:
            raise _failure("order", error, budget) from None
        return OrderHistory(tuple(recent), min(count, MAX_COUNTED_ORDERS), bool(token))

    async def order(self, order_id: str, end_user: str, budget: float) -> OrderDetail:
        try:
            reply = await self._orders.GetOrder(
                order_v1.GetOrderRequest(order_id=order_id),
                timeout=budget,
                metadata=((SUBJECT_METADATA, end_user),),
            )
        except grpc.aio.AioRpcError as error:
            # Another customer's order is NOT_FOUND too: the order service decides.
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("order", order_id) from None
            raise _failure("order", error, budget) from None
        return _detail(reply.order)


def _status(status: int) -> str:
    return order_v1.OrderStatus.Name(status).removeprefix("ORDER_STATUS_")  # type: ignore[arg-type]


def _money(money: order_v1.Money) -> Money:
    return Money(money.currency_code, money.amount_minor)


def _summary(order: order_v1.Order) -> OrderSummary:
    return OrderSummary(
        order_id=order.order_id,
        status=_status(order.status),
        total=_money(order.total),
        item_count=sum(item.quantity for item in order.items),
        created_at=order.create_time.ToDatetime(tzinfo=UTC),
    )


def _detail(order: order_v1.Order) -> OrderDetail:
    return OrderDetail(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status=_status(order.status),
        lines=tuple(
            OrderLine(item.sku, item.quantity, _money(item.unit_price)) for item in order.items
        ),
        total=_money(order.total),
        created_at=order.create_time.ToDatetime(tzinfo=UTC),
        updated_at=order.update_time.ToDatetime(tzinfo=UTC),
    )
