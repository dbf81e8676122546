"""The user service unreachable (its process stopped with SIGSTOP, as a hung host or a
partition looks): the order context's own customer copy keeps known customers ordering;
a customer the copy does not know yet gets UNAVAILABLE with RetryInfo (503 + Retry-After
at the edge) from the order service, never a 504, and once its circuit is open at once;
when the user service is back that customer's order goes through.

Mutations tried: asking the user service before the copy (`CopyFirstCustomers.exists`
calling the owner first) fails the known customer's order; a circuit that never opens
fails the "not answering" check.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protomesh_toolkit.cluster import processes
from tests.support.edge_load import ITEMS, EdgeClient
from tests.support.mesh_cluster import MeshCluster, mesh_cluster, wait_until

pytestmark = pytest.mark.integration

UNAVAILABLE = 14
FAILURE_THRESHOLD = 3  # ORDER_SERVICE_USER_SERVICE_FAILURE_THRESHOLD's default


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MeshCluster]:
    with mesh_cluster(tmp_path) as cluster:
        cluster.cli("up", timeout=180)
        yield cluster


async def _in_copy(cluster: MeshCluster, user: str, *, forget: bool = False) -> bool:
    """Whether the order context's copy holds `user`; `forget` deletes the row first, as if
    the user's UserRegistered had not arrived yet."""
    connection = await cluster.admin_connection()
    try:
        if forget:
            await connection.execute(
                "DELETE FROM orders.customer_directory WHERE customer_id = $1", uuid.UUID(user)
            )
        held = await connection.fetchval(
            "SELECT true FROM orders.customer_directory WHERE customer_id = $1", uuid.UUID(user)
        )
        return bool(held)
    finally:
        await connection.close()


def in_copy(cluster: MeshCluster, user: str, *, forget: bool = False) -> bool:
    return asyncio.run(_in_copy(cluster, user, forget=forget))


def place(port: int, user: str, token: str) -> tuple[int, dict[str, Any], str | None]:
    """PlaceOrder through the edge with a fresh key: status, JSON body, Retry-After."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/orders",
            json.dumps({"customer_id": user, "items": ITEMS}),
            {
                "content-type": "application/json",
                "authorization": f"Bearer {token}",
                "idempotency-key": str(uuid.uuid4()),
            },
        )
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
        return response.status, body, response.getheader("retry-after")
    finally:
        connection.close()


def test_known_customers_order_while_the_user_service_is_down_and_unknown_ones_retry(
    cluster: MeshCluster,
) -> None:
    client = EdgeClient(cluster.edge_port)
    known, newcomer = client.sign_up(), client.sign_up()
    tokens = {user: cluster.cli("token", "--sub", user).strip() for user in (known, newcomer)}
    # Both registrations have reached the copy; the newcomer is then taken out of it, as a
    # user whose UserRegistered is still on its way (and cannot arrive late in this test).
    assert wait_until(lambda: in_copy(cluster, known) and in_copy(cluster, newcomer), 30)
    assert not in_copy(cluster, newcomer, forget=True)
    user_service = list(processes.family(cluster.recorded()["user"]["pid"]))

    for pid in user_service:
        os.kill(pid, signal.SIGSTOP)
    try:
        known_order = place(cluster.edge_port, known, tokens[known])
        refusals = [
            place(cluster.edge_port, newcomer, tokens[newcomer])
            for _ in range(FAILURE_THRESHOLD + 1)
        ]
    finally:
        for pid in user_service:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    assert known_order[0] == 200, known_order
    for status, body, retry_after in refusals:
        # The order service's answer (a retryable 503 with a hint), not Envoy's 504.
        assert status == 503, body
        assert body["code"] == UNAVAILABLE
        assert any("RetryInfo" in json.dumps(detail) for detail in body["details"])
        assert retry_after is not None
        assert int(retry_after) >= 1
    # The first ones waited out the check's deadline; after that the circuit answers at once.
    assert "not answering" not in str(refusals[0][1]["message"])
    assert "not answering" in str(refusals[-1][1]["message"])

    assert wait_until(lambda: place(cluster.edge_port, newcomer, tokens[newcomer])[0] == 200, 20)
