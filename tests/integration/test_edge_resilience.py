"""The edge's resilience against failing upstreams: retries, health checks, limits.

Retries and health checks against the real user service, which the test
kills and starts again; the circuit breaker and outlier detection against the
probe upstream, whose failures and slowness are on request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from protomesh_toolkit.cluster import envoy_admin as admin
from tests.support.edge_upstream import probe_upstream
from tests.support.envoy import Envoy, Reply, edge_mesh, running_envoy
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration

RETRIES = 20  # with a back-off of up to 1 s each: time enough for a restart


def patient_get_user(document: dict[str, Any]) -> None:
    """GetUser retried long enough to outlast a restart of the service."""
    routes = document["edge"]["routes"]
    routes["shop.user.v1.UserService/GetUser"].update(retries=RETRIES, timeout="60s")


def one_at_a_time(document: dict[str, Any]) -> None:
    document["edge"]["circuit_breaker"] = {"max_requests": 1, "max_pending_requests": 1}
    routes = document["edge"]["routes"]
    routes["shop.user.v1.UserService"] = {"timeout": "10s", "retries": 2}


def counter(edge: Envoy, name: str) -> int:
    return edge.stats(name)[name]


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def user(postgres: Postgres, tmp_path: Any) -> Iterator[ServiceProcess]:
    service = user_service(postgres, tmp_path)
    service.start()
    try:
        yield service
    finally:
        service.kill()


def test_an_idempotent_get_is_retried_across_a_restart_of_the_service(
    user: ServiceProcess, tmp_path: Any
) -> None:
    with running_envoy(edge_mesh([user.port], patient_get_user), tmp_path / "edge") as edge:
        edge.wait_upstreams_healthy()
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.com", "display_name": "Ada"}
        user_id = edge.request("POST", "/v1/users", body).json()["user"]["user_id"]
        assert edge.request("GET", f"/v1/users/{user_id}").status == 200

        user.kill()
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(edge.request, "GET", f"/v1/users/{user_id}", timeout=90)
            # The GET is in flight and failing over to retries: only now restart.
            wait_until(
                lambda: (
                    edge.stats("cluster.user.upstream_rq_retry")["cluster.user.upstream_rq_retry"]
                    >= 1
                )
            )
            assert not pending.done()
            user.start()
            reply: Reply = pending.result(90)
        assert reply.status == 200
        assert reply.json()["user"]["user_id"] == user_id
        entry = edge.wait_for_access_log(reply.headers["x-request-id"])[0]
        assert entry["attempts"] > 1
        assert (
            edge.stats("cluster.user.upstream_rq_retry_success")[
                "cluster.user.upstream_rq_retry_success"
            ]
            == 1
        )


def test_health_checks_take_a_stopped_service_out_and_bring_it_back(
    user: ServiceProcess, tmp_path: Any
) -> None:
    with running_envoy(edge_mesh([user.port]), tmp_path / "edge") as edge:
        edge.wait_upstreams_healthy()
        host = f"user/{user.address}"
        user.kill()
        wait_until(lambda: admin.upstream_health(edge.admin_port)[host] != "healthy")
        assert "failed_active_hc" in admin.upstream_health(edge.admin_port)[host]
        user.start()
        edge.wait_upstreams_healthy()


@pytest.fixture
def probed_edge(tmp_path: Any) -> Iterator[Envoy]:
    with (
        probe_upstream(tmp_path) as probe,
        running_envoy(edge_mesh([probe.port], one_at_a_time), tmp_path / "edge") as edge,
    ):
        edge.wait_upstreams_healthy()
        yield edge


def test_the_circuit_breaker_sheds_calls_beyond_its_limit(probed_edge: Envoy) -> None:
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: probed_edge.request("GET", "/v1/users/SLOW"), range(3)))
    statuses = sorted(reply.status for reply in replies)
    assert statuses[0] == 200
    assert 503 in statuses
    assert all(
        "overflow" in reply.json()["details"][0]["metadata"]["envoy"]
        for reply in replies
        if reply.status == 503
    )
    # Shed as active or as pending: which depends on whether the (TLS) connection to the
    # upstream was still being set up when the calls arrived.
    shed = [f"cluster.user.upstream_rq_{kind}_overflow" for kind in ("active", "pending")]
    assert sum(counter(probed_edge, name) for name in shed) >= 1


def test_outlier_detection_finds_a_failing_host_but_keeps_the_only_one(
    probed_edge: Envoy,
) -> None:
    """Ejecting the only host would leave nothing to call: max_ejection_percent (50) stops it."""
    for _ in range(3):  # 3 tries each (2 retries): past consecutive_5xx = 5
        assert probed_edge.request("GET", "/v1/users/UNAVAILABLE").status == 503
    stats = "cluster.user.outlier_detection."
    assert counter(probed_edge, stats + "ejections_detected_consecutive_5xx") >= 1
    assert counter(probed_edge, stats + "ejections_overflow") >= 1
    assert counter(probed_edge, stats + "ejections_active") == 0
