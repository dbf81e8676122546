"""PostgreSQL unreachable for a while (every one of its processes stopped, as a hung host
or a network partition looks): the services say NOT_SERVING, answer UNAVAILABLE with a
retry hint instead of waiting out their deadline, and serve again when it is back, with
no process restarted."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh_toolkit.cluster import processes
from tests.support.edge_load import ITEMS, EdgeClient
from tests.support.mesh_cluster import MeshCluster, mesh_cluster

pytestmark = pytest.mark.integration

UNAVAILABLE = 14


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MeshCluster]:
    with mesh_cluster(tmp_path) as cluster:
        cluster.cli("up", timeout=180)
        yield cluster


def wait_until(condition: object, timeout: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


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
