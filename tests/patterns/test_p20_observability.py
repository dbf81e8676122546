"""Pattern 20: observability, on the real Envoy edge, the real user service and PostgreSQL.

Proven here, with a real OTLP/gRPC receiver on loopback collecting what
Envoy and the service export:
- one REST call through the edge is one trace: Envoy's ingress span, its
  egress span, the user service's server span and the SQL query's span share
  the trace id, each the child of the one before; a caller's own
  `traceparent` is continued, not replaced;
- the service's Prometheus endpoint counts the call under its method and
  final status code (OK, NOT_FOUND), with its latency;
- the service's log lines for that request carry its trace id and the
  edge's request id;
- with no tracer at the edge, a caller's own `traceparent` still reaches the
  service, which continues that trace (and `x-request-id` is kept).
The asynchronous hop (outbox → NATS → consumer) is proven in test_p20_async_hop.py.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh_toolkit.traces.view import Span
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.otlp import Receiver, by_service_and_kind, scrape_metrics, tracing_to
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration
GET_USER = "/shop.user.v1.UserService/GetUser"


@pytest.fixture(scope="module")
def user(
    postgres: Postgres, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    service = user_service(
        postgres,
        tmp_path_factory.mktemp("p20"),
        otlp_endpoint=receiver.endpoint,
        metrics_port=str(free_port()),
        trace_sample_rate="1.0",
    )
    service.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # export within 0.1 s, not 5 s
    service.start()
    try:
        yield service
    finally:
        service.kill()


@pytest.fixture(scope="module")
def edge(
    user: ServiceProcess, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Envoy]:
    mesh = edge_mesh([user.port], tracing_to(receiver))
    with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
        envoy.wait_upstreams_healthy()
        yield envoy


def create_user(edge: Envoy) -> str:
    body = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "display_name": "Ada"}
    reply = edge.request("POST", "/v1/users", body)
    assert reply.status == 200, reply.body
    user_id: str = reply.json()["user"]["user_id"]
    return user_id


def metrics(user: ServiceProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return scrape_metrics(user.env["USER_SERVICE_METRICS_PORT"])


def calls(user: ServiceProcess, code: str) -> float:
    key = ("rpc_server_requests_total", (("code", code), ("method", GET_USER)))
    return metrics(user).get(key, 0.0)


def edge_trace_complete(spans: list[Span]) -> bool:
    found = by_service_and_kind(spans)
    return {("edge", "SERVER"), ("edge", "CLIENT"), ("user", "SERVER"), ("user", "CLIENT")} <= set(
        found
    )


def test_one_rest_call_is_one_trace_from_the_edge_to_the_sql(
    edge: Envoy, user: ServiceProcess, receiver: Receiver
) -> None:
    user_id = create_user(edge)
    reply = edge.request("GET", f"/v1/users/{user_id}")
    assert reply.status == 200
    entry = edge.wait_for_access_log(reply.headers["x-request-id"])[0]
    trace_id = entry["trace_id"]
    assert len(trace_id) == 32

    spans = receiver.wait_for(trace_id, edge_trace_complete)
    found = by_service_and_kind(spans)
    ingress, egress = found["edge", "SERVER"], found["edge", "CLIENT"]
    server, query = found["user", "SERVER"], found["user", "CLIENT"]
    assert ingress["parent_span_id"] is None
    assert egress["parent_span_id"] == ingress["span_id"]
    assert server["parent_span_id"] == egress["span_id"]
    assert query["parent_span_id"] == server["span_id"]
    assert server["name"] == GET_USER.removeprefix("/")
    assert server["attributes"]["rpc.grpc.status_code"] == 0
    assert query["name"] == "SELECT"
    assert "FROM users WHERE id" in query["attributes"]["db.statement"]
    # One query, one span: the pool's reset on release is not traced.
    ours = sorted((s for s in spans if s["service"] == "user"), key=lambda s: s["start_ns"])
    assert [s["kind"] for s in ours] == ["SERVER", "CLIENT"]


def test_the_edge_continues_a_callers_trace(edge: Envoy, receiver: Receiver) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{parent_id}-01"
    reply = edge.request("GET", f"/v1/users/{uuid.uuid4()}", headers={"traceparent": traceparent})
    assert reply.status == 404
    assert edge.wait_for_access_log(reply.headers["x-request-id"])[0]["trace_id"] == trace_id
    found = by_service_and_kind(receiver.wait_for(trace_id, edge_trace_complete))
    assert found["edge", "SERVER"]["parent_span_id"] == parent_id
    assert found["user", "SERVER"]["parent_span_id"] == found["edge", "CLIENT"]["span_id"]


def test_the_metrics_endpoint_counts_each_call_by_status_code(
    edge: Envoy, user: ServiceProcess
) -> None:
    before_ok, before_missing = calls(user, "OK"), calls(user, "NOT_FOUND")
    assert edge.request("GET", f"/v1/users/{create_user(edge)}").status == 200
    assert edge.request("GET", f"/v1/users/{uuid.uuid4()}").status == 404
    assert calls(user, "OK") == before_ok + 1
    # grpc.aio sends an aborted call's status before the interceptors unwind: poll briefly.
    deadline = time.monotonic() + 5
    while calls(user, "NOT_FOUND") < before_missing + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls(user, "NOT_FOUND") == before_missing + 1
    latency = metrics(user)["rpc_server_duration_seconds_count", (("method", GET_USER),)]
    assert latency >= 2
    schema = user.env["USER_SERVICE_DATABASE_SCHEMA"]
    pool = metrics(user)["db_pool_connections", (("pool", schema), ("state", "max"))]
    assert pool == 8  # the user service's default pool_max_size


def test_the_service_log_lines_of_a_request_carry_its_trace_and_request_ids(
    edge: Envoy, user: ServiceProcess
) -> None:
    request_id = f"p20-{secrets.token_hex(4)}"
    reply = edge.request("GET", f"/v1/users/{uuid.uuid4()}", headers={"x-request-id": request_id})
    assert reply.headers["x-request-id"] == request_id
    trace_id = edge.wait_for_access_log(request_id)[0]["trace_id"]
    lines = [json.loads(line) for line in user.log().splitlines() if request_id in line]
    assert lines, "the service wrote no line for the request"
    for line in lines:
        assert (line["request_id"], line["trace_id"]) == (request_id, trace_id)
        assert len(line["span_id"]) == 16
        assert line["service"] == "user"


def test_without_a_tracer_at_the_edge_the_callers_traceparent_still_reaches_the_service(
    user: ServiceProcess, receiver: Receiver, tmp_path: Path
) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    with running_envoy(edge_mesh([user.port]), tmp_path) as plain:
        plain.wait_upstreams_healthy()
        assert "tracing" not in plain.config_file.read_text()
        reply = plain.request(
            "GET",
            f"/v1/users/{uuid.uuid4()}",
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "x-request-id": "keep-me"},
        )
    assert (reply.status, reply.headers["x-request-id"]) == (404, "keep-me")

    def served(spans: list[Span]) -> bool:
        return ("user", "SERVER") in by_service_and_kind(spans)

    server = by_service_and_kind(receiver.wait_for(trace_id, served))["user", "SERVER"]
    assert server["parent_span_id"] == parent_id
