"""The dashboard benchmark's phases and its printout (imports generated code)."""

from __future__ import annotations

import argparse
import asyncio
import uuid

import grpc
from shop.bff.web.v1 import web_bff_pb2, web_bff_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.user.v1 import user_pb2, user_pb2_grpc

from protomesh_toolkit.bench.dashboard_phases import Call, Phase, run_phase
from protomesh_toolkit.bench.dashboard_stack import DashboardStack
from protomesh_toolkit.bench.load import percentile

SETUP_CONCURRENCY = 8


def _as(customer: str) -> tuple[tuple[str, str], ...]:
    return (("x-jwt-sub", customer),)


async def _sign_up(stack: DashboardStack, customers: int, orders: int) -> list[str]:
    """`customers` new users with `orders` orders each, placed as each of them."""
    async with (
        stack.channel(stack.user, "user") as user_channel,
        stack.channel(stack.order, "order") as order_channel,
    ):
        users = user_pb2_grpc.UserServiceStub(user_channel)
        placing = order_pb2_grpc.OrderServiceStub(order_channel)
        line = order_pb2.LineItem(
            sku="BOOK-1",
            quantity=1,
            unit_price=order_pb2.Money(currency_code="EUR", amount_minor=1250),
        )
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one() -> str:
            async with gate:
                created = await users.CreateUser(
                    user_pb2.CreateUserRequest(
                        email=f"{uuid.uuid4().hex[:12]}@bench.example", display_name="Bench Buyer"
                    ),
                    timeout=10,
                )
                customer = created.user.user_id
                for _ in range(orders):
                    await placing.PlaceOrder(
                        order_pb2.PlaceOrderRequest(customer_id=customer, items=[line]),
                        metadata=_as(customer),
                        timeout=10,
                    )
                return customer

        return list(await asyncio.gather(*(one() for _ in range(customers))))


def _dashboard(channel: grpc.aio.Channel) -> Call:
    stub = web_bff_pb2_grpc.WebBffServiceStub(channel)

    async def call(customer: str) -> None:
        reply = await stub.GetDashboard(
            web_bff_pb2.GetDashboardRequest(), metadata=_as(customer), timeout=5
        )
        if reply.degraded:  # a degraded screen is not the cached answer being measured
            raise RuntimeError(f"degraded: {reply.degraded[0].reason}")

    return call


async def measure_and_report(stack: DashboardStack, options: argparse.Namespace) -> None:
    print(f"dashboard: signing up {options.customers} customers, {options.orders} orders each ...")
    customers = await _sign_up(stack, options.customers, options.orders)
    once = {
        "concurrency": options.concurrency,
        "seconds": options.seconds * 4,
        "limit": len(customers),
    }
    async with (
        stack.channel(stack.bff[0], "bff") as first,
        stack.channel(stack.bff[1], "bff") as second,
    ):
        cold = await run_phase("cold", _dashboard(first), customers, **once)
        shared = await run_phase("tier 2", _dashboard(second), customers, **once)
        warm = await run_phase(
            "warm",
            _dashboard(first),
            customers,
            concurrency=options.concurrency,
            seconds=options.seconds,
            limit=options.count,
        )
    _report([cold, shared, warm], cold, warm, options)


def _report(phases: list[Phase], cold: Phase, warm: Phase, options: argparse.Namespace) -> None:
    print()
    print(
        f"GetDashboard on the web BFF (plaintext, {options.concurrency} callers, "
        f"{options.customers} customers with {options.orders} orders):"
    )
    for phase in phases:
        print(phase.row())
    if cold.latencies and warm.latencies:
        speedup = warm.rate / cold.rate if cold.rate else float("inf")
        p50 = percentile_ratio(cold, warm, 50)
        print(f"  warm/cold: {speedup:.1f}x the req/s, p50 {p50:.1f}x lower")


def percentile_ratio(cold: Phase, warm: Phase, p: float) -> float:
    return percentile(cold.latencies, p) / percentile(warm.latencies, p)
