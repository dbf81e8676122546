"""`protomesh restart order` with two order replicas behind the edge, under a mixed load
of reads and idempotent writes through it: no request fails, because each replica keeps
serving for its shutdown delay after saying NOT_SERVING, and the next one goes only once
the restarted one is healthy in the edge."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.edge_load import EdgeClient, running
from tests.support.mesh_cluster import MeshCluster, mesh_cluster

pytestmark = pytest.mark.integration

USERS = 4  # PlaceOrder allows each end user 5 a second: spread the load over a few


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MeshCluster]:
    with mesh_cluster(tmp_path, order_replicas=2) as cluster:
        yield cluster


def test_a_rolling_restart_of_two_replicas_fails_no_request(cluster: MeshCluster) -> None:
    cluster.cli("up", timeout=180)
    client = EdgeClient(cluster.edge_port)
    users = [client.sign_up() for _ in range(USERS)]
    tokens = [cluster.cli("token", "--sub", user).strip() for user in users]
    placed: list[str] = []

    def shop(index: int, stop: threading.Event) -> None:
        user, token = users[index], tokens[index]
        while not stop.is_set():
            order = client.place_order(user, token, str(uuid.uuid4()), retries=0)
            if order is not None:
                placed.append(order)
                client.call("get_order", "GET", f"/v1/orders/{order}", token=token)
            client.call("list_orders", "GET", f"/v1/customers/{user}/orders", token=token)
            time.sleep(0.25)  # within PlaceOrder's 5 a second per user

    before = cluster.recorded()
    with running(USERS, shop):
        time.sleep(1)
        restarted = cluster.cli("restart", "order", timeout=120)
        time.sleep(1)

    after = cluster.recorded()
    assert after["order-1"]["pid"] != before["order-1"]["pid"]
    assert after["order-2"]["pid"] != before["order-2"]["pid"]
    assert "order-1  draining ... stopped (SIGTERM)" in restarted
    failed = [o for o in client.outcomes if o.status != 200]
    assert failed == []
    during = [o for o in client.outcomes if o.operation == "place_order"]
    assert len(during) > 20  # the load ran throughout
    assert len(placed) == len(set(placed))
