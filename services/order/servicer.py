"""shop.order.v1.OrderService: maps messages to use cases and back.

The caller's end user (forwarded by the edge) and idempotency key are read
here and handed to the use cases; a repeated call gets the first response
exactly as it was serialized then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc

from protomesh.idempotency import Replayed, idempotent_call
from protomesh.principal import Viewer
from services.order import handlers, mapping
from services.order.domain import Order
from services.order.handlers import Clock, CustomerCheck, Once, OrderStore

Context = grpc.aio.ServicerContext[Any, Any]
Response = TypeVar("Response", bound=Message)


def _once(context: Context, request: Message, respond: Callable[[Order], Message]) -> Once | None:
    call = idempotent_call(context, request)
    return None if call is None else Once(call, lambda order: respond(order).SerializeToString())


def _reply(
    result: Order | Replayed, respond: Callable[[Order], Response], kind: type[Response]
) -> Response:
    if isinstance(result, Replayed):
        return kind.FromString(result.response)
    return respond(result)


def _placed(order: Order) -> v1.PlaceOrderResponse:
    return v1.PlaceOrderResponse(order=mapping.to_order(order))


def _cancelled(order: Order) -> v1.CancelOrderResponse:
    return v1.CancelOrderResponse(order=mapping.to_order(order))


class OrderServiceV1(order_pb2_grpc.OrderServiceServicer):
    def __init__(self, store: OrderStore, customers: CustomerCheck, clock: Clock) -> None:
        self._store = store
        self._customers = customers
        self._clock = clock

    async def PlaceOrder(
        self, request: v1.PlaceOrderRequest, context: Context
    ) -> v1.PlaceOrderResponse:
        command = handlers.PlaceOrder(
            customer_id=mapping.parse_id(request.customer_id),
            items=mapping.items_from(list(request.items)),
        )
        result = await handlers.place_order(
            command,
            store=self._store,
            customers=self._customers,
            clock=self._clock,
            viewer=Viewer.of_call(),
            once=_once(context, request, _placed),
        )
        return _reply(result, _placed, v1.PlaceOrderResponse)

    async def GetOrder(self, request: v1.GetOrderRequest, context: Context) -> v1.GetOrderResponse:
        order = await handlers.get_order(
            mapping.parse_id(request.order_id), store=self._store, viewer=Viewer.of_call()
        )
        return v1.GetOrderResponse(order=mapping.to_order(order))

    async def ListOrders(
        self, request: v1.ListOrdersRequest, context: Context
    ) -> v1.ListOrdersResponse:
        query = handlers.ListOrders(
            customer_id=mapping.parse_id(request.customer_id),
            page_size=request.page_size,
            page_token=request.page_token,
            status=mapping.status_from(request.status),
        )
        page = await handlers.list_orders(query, store=self._store, viewer=Viewer.of_call())
        return v1.ListOrdersResponse(
            orders=[mapping.to_order(o) for o in page.orders],
            next_page_token=page.next_page_token,
        )

    async def CancelOrder(
        self, request: v1.CancelOrderRequest, context: Context
    ) -> v1.CancelOrderResponse:
        command = handlers.CancelOrder(mapping.parse_id(request.order_id), request.reason)
        result = await handlers.cancel_order(
            command,
            store=self._store,
            clock=self._clock,
            viewer=Viewer.of_call(),
            once=_once(context, request, _cancelled),
        )
        return _reply(result, _cancelled, v1.CancelOrderResponse)
