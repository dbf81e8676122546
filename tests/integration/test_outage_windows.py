"""A part unreachable for a while (every one of its processes stopped with SIGSTOP, as a
hung host or a network partition looks: connections stay open and nothing answers), with
no process restarted:

- PostgreSQL: the services say NOT_SERVING, answer UNAVAILABLE with a retry hint instead
  of waiting out their deadline, and serve again when it is back;
- NATS, for 30 s: writes keep succeeding and the services stay SERVING (their events wait
  in the outbox), and after it every event arrives, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh_toolkit.cluster import processes
from tests.support.chaos import placed_in_stream
from tests.support.edge_load import ITEMS, EdgeClient
from tests.support.mesh_cluster import MeshCluster, mesh_cluster, wait_until

pytestmark = pytest.mark.integration

UNAVAILABLE = 14


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MeshCluster]:
    with mesh_cluster(tmp_path) as cluster:
        cluster.cli("up", timeout=180)
        yield cluster


def test_postgres_unreachable_means_unavailable_at_once_and_recovery_without_restart(
    cluster: MeshCluster,
) -> None:
    client = EdgeClient(cluster.edge_port)
    user = client.sign_up()
    token = cluster.cli("token", "--sub", user).strip()
    order = client.place_order(user, token, str(uuid.uuid4()))
    before = {name: c["pid"] for name, c in cluster.recorded().items()}
    postgres = list(processes.family(before["postgres"]))

    def place() -> tuple[int, dict[str, object]]:
        body = {"customer_id": user, "items": ITEMS}
        return client.call(
            "place", "POST", "/v1/orders", body=body, token=token, key=str(uuid.uuid4())
        )

    for pid in postgres:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: cluster.status()["order"]["detail"] == "NOT_SERVING", 15)
        assert cluster.status()["user"]["detail"] == "NOT_SERVING"
        placed, reply = place()
        read, _ = client.call("get", "GET", f"/v1/orders/{order}", token=token)
    finally:
        for pid in postgres:
            os.kill(pid, signal.SIGCONT)

    # 503 with gRPC UNAVAILABLE and RetryInfo: refused by the service, not a 504 timeout.
    assert (placed, read) == (503, 503)
    assert reply["code"] == UNAVAILABLE
    assert "postgres unavailable" in str(reply["message"])
    assert any("RetryInfo" in json.dumps(detail) for detail in reply["details"])  # type: ignore[attr-defined]
    assert wait_until(lambda: place()[0] == 200, 15)
    assert {name: c["pid"] for name, c in cluster.recorded().items()} == before


NATS_OUTAGE = 30.0  # seconds NATS is unreachable
EVENTS_BOUND = 30.0  # seconds after it is back by which every event must have arrived


async def consumer_tables(cluster: MeshCluster, buyer: str) -> tuple[int, set[str]]:
    """What the consumers built: the user service's count of `buyer`'s placed orders, and
    the customers in the order service's copy."""
    connection = await cluster.admin_connection()
    try:
        counted = await connection.fetchval(
            "SELECT placed_count FROM users.customer_order_counts WHERE customer_id = $1",
            uuid.UUID(buyer),
        )
        copies = await connection.fetch("SELECT customer_id FROM orders.customer_directory")
    finally:
        await connection.close()
    return counted or 0, {str(row[0]) for row in copies}


def test_nats_unreachable_for_30s_writes_succeed_and_every_event_arrives_once_after(
    cluster: MeshCluster,
) -> None:
    client = EdgeClient(cluster.edge_port)
    buyer = client.sign_up()
    token = cluster.cli("token", "--sub", buyer).strip()
    orders = [client.place_order(buyer, token, str(uuid.uuid4()), retries=0)]
    before = {name: c["pid"] for name, c in cluster.recorded().items()}
    nats = list(processes.family(before["nats"]))
    signed_up: list[str] = []
    health: list[tuple[str, str]] = []
    checks = [10.0, NATS_OUTAGE - 5]  # seconds into the outage to read readiness

    for pid in nats:
        os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        while (elapsed := time.monotonic() - stopped) < NATS_OUTAGE:
            orders.append(client.place_order(buyer, token, str(uuid.uuid4()), retries=0))
            signed_up.append(client.sign_up())  # asserts a 200
            if checks and elapsed >= checks[0]:
                checks.pop(0)
                status = cluster.status()
                health.append((status["user"]["detail"], status["order"]["detail"]))
            time.sleep(0.3)
        window = [o for o in client.outcomes if o.at >= stopped]
    finally:
        for pid in nats:
            os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()

    placed = [order for order in orders if order is not None]
    assert len(placed) == len(orders)  # every PlaceOrder answered 200, none retried
    assert {o.status for o in window} == {200}  # a write waiting on NATS would be a 504
    assert health == [("SERVING", "SERVING")] * 2

    arrived = None
    while time.monotonic() - resumed < EVENTS_BOUND:
        counted, copies = asyncio.run(consumer_tables(cluster, buyer))
        if counted >= len(orders) and copies >= set(signed_up):
            arrived = time.monotonic() - resumed
            break
        time.sleep(0.2)
    assert arrived is not None, f"events still missing {EVENTS_BOUND}s after NATS came back"
    in_stream = asyncio.run(placed_in_stream(cluster))
    assert [in_stream[order] for order in placed] == [1] * len(placed)
    # Read after the stream, so a late duplicate would have had time to be counted twice.
    counted, _ = asyncio.run(consumer_tables(cluster, buyer))
    assert counted == len(orders)
    assert {name: c["pid"] for name, c in cluster.recorded().items()} == before
    print(
        f"\nNATS stopped {NATS_OUTAGE:.0f}s: {len(orders) - 1} orders and {len(signed_up)}"
        f" sign-ups, all 200, slowest {max(o.elapsed for o in window) * 1000:.0f} ms;"
        f" every event consumed {arrived:.1f}s after SIGCONT"
    )
