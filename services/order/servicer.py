"""shop.order.v1.OrderService: maps messages to use cases and back.

The caller's end user (forwarded by the edge) is read here and handed to the
use cases. The idempotency key is a transport matter too: `answer_once`
builds the call's unit of work with the key and this module's serialization
of the reply, and a repeated call gets the first response as it was
serialized then.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc

from protomesh.idempotency import answer_once, idempotent_call
from protomesh.principal import Viewer
from services.order import handlers, mapping
from services.order.domain import Order
from services.order.handlers import (
    Clock,
    CustomerCheck,
    OrderReader,
    PaymentGateway,
    UnitsOfWork,
)

Context = grpc.aio.ServicerContext[Any, Any]


def payment_reference(context: Context, request: v1.PlaceOrderRequest) -> str:
    """Stable across retries of one idempotent call (caller, key, method, request), else new.

    A different request under a spent key gets another reference, so its hold
    can be voided without touching the first call's.
    """
    call = idempotent_call(context, request)
    if call is None:
        return f"once:{uuid.uuid4()}"
    return f"key:{call.caller}:{call.method}:{call.key}:{call.request_hash.hex()}"


def _placed(order: Order) -> v1.PlaceOrderResponse:
    return v1.PlaceOrderResponse(order=mapping.to_order(order))


def _cancelled(order: Order) -> v1.CancelOrderResponse:
    return v1.CancelOrderResponse(order=mapping.to_order(order))


class OrderServiceV1(order_pb2_grpc.OrderServiceServicer):
    def __init__(
        self,
        orders: OrderReader,
        units: UnitsOfWork,
        customers: CustomerCheck,
        payments: PaymentGateway,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._units = units
        self._customers = customers
        self._payments = payments
        self._clock = clock

    async def PlaceOrder(
        self, request: v1.PlaceOrderRequest, context: Context
    ) -> v1.PlaceOrderResponse:
        command = handlers.PlaceOrder(
            customer_id=mapping.parse_id(request.customer_id),
            items=mapping.items_from(list(request.items)),
            payment_reference=payment_reference(context, request),
        )
        return await answer_once(
            context,
            request,
            _placed,
            v1.PlaceOrderResponse,
            lambda reply: handlers.place_order(
                command,
                uow=self._units(reply),
                customers=self._customers,
                payments=self._payments,
                orders=self._orders,
                clock=self._clock,
                viewer=Viewer.of_call(),
            ),
        )

    async def GetOrder(self, request: v1.GetOrderRequest, context: Context) -> v1.GetOrderResponse:
        order = await handlers.get_order(
            mapping.parse_id(request.order_id), orders=self._orders, viewer=Viewer.of_call()
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
        page = await handlers.list_orders(query, orders=self._orders, viewer=Viewer.of_call())
        return v1.ListOrdersResponse(
            orders=[mapping.to_order(o) for o in page.orders],
            next_page_token=page.next_page_token,
        )

    async def CancelOrder(
        self, request: v1.CancelOrderRequest, context: Context
    ) -> v1.CancelOrderResponse:
        command = handlers.CancelOrder(mapping.parse_id(request.order_id), request.reason)
        return await answer_once(
            context,
            request,
            _cancelled,
            v1.CancelOrderResponse,
            lambda reply: handlers.cancel_order(
                command,
                uow=self._units(reply),
                payments=self._payments,
                clock=self._clock,
                viewer=Viewer.of_call(),
            ),
        )
