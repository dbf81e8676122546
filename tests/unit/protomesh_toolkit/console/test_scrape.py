"""Rates, error ratios and quantiles from two scrapes of a service's /metrics."""

from __future__ import annotations

import pytest

from protomesh_toolkit.console.scrape import parse, rates

BEFORE = """
# TYPE rpc_server_requests counter
rpc_server_requests_total{code="OK",method="/shop.order.v1.OrderService/PlaceOrder"} 10
rpc_server_requests_total{code="INVALID_ARGUMENT",method="/shop.order.v1.OrderService/PlaceOrder"} 0
# TYPE rpc_server_duration_seconds histogram
rpc_server_duration_seconds_bucket{le="0.01",method="/shop.order.v1.OrderService/PlaceOrder"} 10
rpc_server_duration_seconds_bucket{le="0.1",method="/shop.order.v1.OrderService/PlaceOrder"} 10
rpc_server_duration_seconds_bucket{le="+Inf",method="/shop.order.v1.OrderService/PlaceOrder"} 10
rpc_server_duration_seconds_sum{method="/shop.order.v1.OrderService/PlaceOrder"} 0.05
rpc_server_duration_seconds_count{method="/shop.order.v1.OrderService/PlaceOrder"} 10
# TYPE outbox_backlog_rows gauge
outbox_backlog_rows{stream="ORDER_EVENTS"} 3
"""

AFTER = (
    BEFORE.replace('PlaceOrder"} 10\n', 'PlaceOrder"} 100\n', 1)
    .replace(
        'INVALID_ARGUMENT",method="/shop.order.v1.OrderService/PlaceOrder"} 0',
        'INVALID_ARGUMENT",method="/shop.order.v1.OrderService/PlaceOrder"} 10',
    )
    .replace(
        'le="0.01",method="/shop.order.v1.OrderService/PlaceOrder"} 10',
        'le="0.01",method="/shop.order.v1.OrderService/PlaceOrder"} 60',
    )
    .replace(
        'le="0.1",method="/shop.order.v1.OrderService/PlaceOrder"} 10',
        'le="0.1",method="/shop.order.v1.OrderService/PlaceOrder"} 110',
    )
    .replace(
        'le="+Inf",method="/shop.order.v1.OrderService/PlaceOrder"} 10',
        'le="+Inf",method="/shop.order.v1.OrderService/PlaceOrder"} 110',
    )
)


def test_rates_between_two_scrapes_count_only_what_happened_in_between() -> None:
    [placed] = rates(parse(BEFORE, at=0.0), parse(AFTER, at=10.0))
    assert placed.method == "/shop.order.v1.OrderService/PlaceOrder"
    assert placed.per_second == pytest.approx(10.0)  # 90 OK + 10 errors in 10 s
    assert placed.error_ratio == pytest.approx(0.1)
    # 50 of the 100 new calls under 10 ms, 50 between 10 and 100 ms
    assert placed.p50_ms == pytest.approx(10.0)
    assert placed.p99_ms == pytest.approx(10 + 90 * 49 / 50)


def test_a_restarted_service_counts_from_zero_instead_of_going_negative() -> None:
    [placed] = rates(parse(AFTER, at=0.0), parse(BEFORE, at=5.0))
    assert placed.per_second == pytest.approx(2.0)  # the 10 calls since the restart
    assert placed.error_ratio == 0.0


def test_no_calls_in_the_window_means_no_latency_rather_than_zero() -> None:
    [placed] = rates(parse(BEFORE, at=0.0), parse(BEFORE, at=2.0))
    assert placed.per_second == 0.0
    assert placed.p50_ms is None


def test_the_outbox_backlog_is_read() -> None:
    assert parse(BEFORE, at=0.0).backlog == {"ORDER_EVENTS": 3.0}


def test_the_server_processes_of_one_replica_add_up() -> None:
    """A replica of two server processes: its parent labels each process's samples."""
    merged = """
# TYPE rpc_server_requests counter
rpc_server_requests_total{code="OK",method="/u.v1.U/Get",process="0"} 7
rpc_server_requests_total{code="OK",method="/u.v1.U/Get",process="1"} 5
# TYPE rpc_server_duration_seconds histogram
rpc_server_duration_seconds_bucket{le="+Inf",method="/u.v1.U/Get",process="0"} 7
rpc_server_duration_seconds_bucket{le="+Inf",method="/u.v1.U/Get",process="1"} 5
"""
    scrape = parse(merged, at=0.0)
    assert scrape.requests == {("/u.v1.U/Get", "OK"): 12.0}
    assert scrape.latency["/u.v1.U/Get"] == {float("inf"): 12.0}
