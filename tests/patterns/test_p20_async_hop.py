"""Pattern 20 across the asynchronous hop: outbox → NATS JetStream → consumer.

Proven here, on the real NATS, PostgreSQL, Envoy and services, with a real
OTLP/gRPC receiver:
- the headers an outbox row stores (`inject_headers`) survive the relay's
  publish as NATS headers (`publish_span`), and the consumer (`consume_span`)
  continues the request's trace, a redelivery included, with the request id
  on its log lines;
- one REST call through the edge that places an order is ONE trace: edge →
  order (PlaceOrder) → user (GetUser, asked for a customer the order context's
  own copy does not know yet) → SQL, the outbox INSERT, the relay's
  publish under PlaceOrder and the user service's consumer under the publish;
  the order service's metrics count the call and its GetUser client call.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer, format_trace_id
from prometheus_client import REGISTRY
from shop.order.events.v1 import events_pb2

from protomesh import logs, request_context
from protomesh.bus.consumer import ConsumerSpec, DurableConsumer
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.telemetry.propagation import inject_headers, publish_span
from protomesh.telemetry.tracing import tracer_provider
from protomesh_toolkit.traces.view import Span
from tests.support.consumers import event_headers, eventually
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.nats import Nats, declare, start_nats, unique_stream
from tests.support.order_service import order_service, schema_of
from tests.support.otlp import Receiver, by_service_and_kind, scrape_metrics, tracing_to
from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service

pytestmark = pytest.mark.integration
GET_USER = "/shop.user.v1.UserService/GetUser"


CONSUMER = "order-summaries"


@pytest.fixture
async def jetstream(nats: Nats) -> AsyncIterator[tuple[JetStreamContext, str]]:
    """The session's NATS and a subject in a stream of this test's own (the server is shared)."""
    client, js = await nats.jetstream()
    spec = unique_stream("p20")
    await declare(client, spec)
    yield js, spec.subjects[0].replace(">", "placed")
    await client.drain()


async def consume_failing_once(
    js: JetStreamContext, nats: Nats, subject: str, tracer: Tracer
) -> list[str]:
    """Run the real DurableConsumer until the event is acknowledged; the ids it handled."""
    attempts: list[str] = []

    async def handle(decoded: DecodedEvent) -> None:
        attempts.append(decoded.id)
        logging.getLogger("services.order.consumer").info("handling attempt %d", len(attempts))
        if len(attempts) == 1:
            raise ConnectionError("the first delivery fails")

    spec = ConsumerSpec(
        stream=await js.find_stream_name_by_subject(subject),
        durable=CONSUMER,
        filter_subject=subject,
        backoff=(0.1,),
        fetch_wait=0.3,
    )
    consumer = DurableConsumer(
        nats.url, spec, EventTypes([events_pb2.OrderPlaced]), handle, tracer=tracer
    )
    await consumer.start()
    try:
        await eventually(lambda: _acknowledged(js, spec))
    finally:
        await consumer.stop()
    return attempts


async def _acknowledged(js: JetStreamContext, spec: ConsumerSpec) -> bool:
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NotFoundError:  # not created yet: the consumer creates it when it starts
        return False
    return bool(info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq)


async def test_the_consumer_continues_the_trace_of_the_request_that_wrote_the_row(
    jetstream: tuple[JetStreamContext, str], nats: Nats
) -> None:
    js, subject = jetstream
    exporter = InMemorySpanExporter()
    tracer = tracer_provider("order", 1.0, exporter, batch=False).get_tracer("test")
    stream = io.StringIO()
    logs.configure("order", stream=stream, pretty=False)

    # The request: its handler stores the headers with the outbox row (a jsonb column).
    token = request_context.request_id.set("req-outbox-1")
    try:
        with tracer.start_as_current_span("PlaceOrder", kind=SpanKind.SERVER):
            row_headers = json.loads(json.dumps(inject_headers()))
    finally:
        request_context.request_id.reset(token)

    # The relay, later and elsewhere: publish the row with its headers.
    event = events_pb2.OrderPlaced(order_id="o-1", customer_id=str(uuid.uuid4()))
    with publish_span(row_headers, subject, tracer=tracer) as headers:
        envelope = {**headers, **event_headers("evt-1", event)}
        await js.publish(subject, event.SerializeToString(), headers=envelope)

    # The real durable consumer: its handler fails the first delivery, handles the second.
    before = REGISTRY.get_sample_value("consumer_redeliveries_total", {"consumer": CONSUMER}) or 0
    attempts = await consume_failing_once(js, nats, subject, tracer)
    logging.getLogger().handlers.clear()
    assert attempts == ["evt-1", "evt-1"]

    spans: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        spans.setdefault(span.name, []).append(span)
    (request,), (publish,) = spans["PlaceOrder"], spans[f"publish {subject}"]
    consumed = spans[f"process {subject}"]
    assert len(consumed) == 2
    for span in (publish, *consumed):
        assert span.context.trace_id == request.context.trace_id
    assert publish.parent is not None
    assert publish.parent.span_id == request.context.span_id
    for span in consumed:
        assert span.parent is not None
        assert span.parent.span_id == publish.context.span_id
    assert [dict(s.attributes or {})["messaging.nats.delivery_count"] for s in consumed] == [1, 2]
    after = REGISTRY.get_sample_value("consumer_redeliveries_total", {"consumer": CONSUMER})
    assert after == before + 1

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handled = [line for line in lines if line["message"].startswith("handling attempt")]
    assert len(handled) == 2
    for line in handled:
        assert line["request_id"] == "req-outbox-1"
        assert line["trace_id"] == format_trace_id(request.context.trace_id)


PLACE_ORDER = "/shop.order.v1.OrderService/PlaceOrder"


@dataclass
class OrderStack:
    edge: Envoy
    users: ServiceProcess
    orders: ServiceProcess


@pytest.fixture
def order_stack(postgres: Postgres, receiver: Receiver, tmp_path: Path) -> Iterator[OrderStack]:
    """Envoy (tracing) → order → user, both services tracing, with metrics, on NATS.

    A NATS of its own: the services use the mesh's real stream names, and the
    user service's durable consumer must see this test's events only.
    """
    telemetry = {"otlp_endpoint": receiver.endpoint, "trace_sample_rate": "1.0"}
    with contextlib.ExitStack() as stack:
        nats = start_nats(tmp_path / "nats")
        stack.callback(nats.stop)
        users = user_service(
            postgres, tmp_path, nats_url=nats.url, metrics_port=str(free_port()), **telemetry
        )
        users.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # export within 0.1 s, not 5 s
        users.start()
        stack.callback(users.kill)
        orders = order_service(
            postgres,
            tmp_path,
            users.port,
            nats_url=nats.url,
            metrics_port=str(free_port()),
            **telemetry,
        )
        orders.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
        orders.start()
        stack.callback(orders.kill)
        mesh = edge_mesh([users.port], tracing_to(receiver), order_ports=[orders.port])
        edge = stack.enter_context(running_envoy(mesh, tmp_path / "edge"))
        edge.wait_upstreams_healthy()
        yield OrderStack(edge, users, orders)


def is_sql(span: Span) -> bool:
    return span["kind"] == "CLIENT" and "db.statement" in span["attributes"]


def order_trace_complete(spans: list[Span]) -> bool:
    found = by_service_and_kind(spans)
    wanted = {("edge", "SERVER"), ("edge", "CLIENT"), ("order", "SERVER"), ("user", "SERVER")}
    return wanted | {("order", "PRODUCER"), ("user", "CONSUMER")} <= set(found) and any(
        is_sql(s)
        and s["service"] == "user"
        and "customer_order_counts" in s["attributes"]["db.statement"]
        for s in spans
    )


def rpc_count(service: ServiceProcess, prefix: str, metric: str, method: str) -> float:
    samples = scrape_metrics(service.env[f"{prefix}METRICS_PORT"])
    return samples.get((metric, (("code", "OK"), ("method", method))), 0.0)


def create_user(edge: Envoy) -> str:
    body = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "display_name": "Ada"}
    reply = edge.request("POST", "/v1/users", body)
    assert reply.status == 200, reply.body
    user_id: str = reply.json()["user"]["user_id"]
    return user_id


async def _not_yet_in_the_copy(postgres: Postgres, orders: ServiceProcess, customer: str) -> None:
    """Once the customer's UserRegistered has reached the order context's copy, take the
    row out again: PlaceOrder asks the copy first, and only a miss makes the GetUser hop."""
    table = f"{schema_of(orders)}.customer_directory"
    connection = await postgres.connect()
    try:
        for _ in range(150):
            query = f"SELECT true FROM {table} WHERE customer_id = $1"
            if await connection.fetchval(query, uuid.UUID(customer)):
                break
            await asyncio.sleep(0.1)
        await connection.execute(f"DELETE FROM {table} WHERE customer_id = $1", uuid.UUID(customer))
    finally:
        await connection.close()


def test_one_order_is_one_trace_from_the_edge_through_the_outbox_to_the_consumer(
    order_stack: OrderStack, receiver: Receiver, postgres: Postgres
) -> None:
    edge, users, orders = order_stack.edge, order_stack.users, order_stack.orders
    customer = create_user(edge)
    asyncio.run(_not_yet_in_the_copy(postgres, orders, customer))
    price = {"currency_code": "EUR", "amount_minor": "1250"}
    reply = edge.request(
        "POST",
        "/v1/orders",
        {"customer_id": customer, "items": [{"sku": "LAMP", "quantity": 1, "unit_price": price}]},
        headers={
            "authorization": f"Bearer {edge.token(customer)}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert reply.status == 200, reply.body
    # Envoy's own request id: it carries Envoy's sampling decision (a caller's would not).
    request_id = reply.headers["x-request-id"]
    trace_id = edge.wait_for_access_log(request_id)[0]["trace_id"]

    spans = receiver.wait_for(trace_id, order_trace_complete, timeout=30)
    found = by_service_and_kind(spans)
    ingress, egress = found["edge", "SERVER"], found["edge", "CLIENT"]
    placed, produced = found["order", "SERVER"], found["order", "PRODUCER"]
    consumed = found["user", "CONSUMER"]
    assert ingress["parent_span_id"] is None
    assert egress["parent_span_id"] == ingress["span_id"]
    assert placed["parent_span_id"] == egress["span_id"]
    assert placed["name"] == PLACE_ORDER.removeprefix("/")
    # order → user: the client span under PlaceOrder, the user's server span under it
    (lookup,) = [s for s in spans if s["service"] == "order" and "GetUser" in s["name"]]
    assert (lookup["kind"], lookup["parent_span_id"]) == ("CLIENT", placed["span_id"])
    (served,) = [s for s in spans if s["service"] == "user" and s["kind"] == "SERVER"]
    assert served["name"] == GET_USER.removeprefix("/")
    assert served["parent_span_id"] == lookup["span_id"]
    # the order's SQL, the outbox row among it, under PlaceOrder
    order_sql = [s for s in spans if s["service"] == "order" and is_sql(s)]
    assert any("INSERT INTO outbox" in s["attributes"]["db.statement"] for s in order_sql)
    assert {s["parent_span_id"] for s in order_sql} == {placed["span_id"]}
    # the relay publishes under the request that wrote the row; the consumer under the publish
    assert produced["parent_span_id"] == placed["span_id"]
    assert produced["name"].startswith("publish order.events.")
    assert consumed["parent_span_id"] == produced["span_id"]
    assert consumed["attributes"]["messaging.consumer.group.name"] == "user-order-counts"
    under = {
        parent: [
            s["attributes"].get("db.statement", "") for s in spans if s["parent_span_id"] == parent
        ]
        for parent in (served["span_id"], consumed["span_id"])
    }
    assert any("FROM users WHERE id" in sql for sql in under[served["span_id"]])
    assert any("customer_order_counts" in sql for sql in under[consumed["span_id"]])

    assert rpc_count(orders, "ORDER_SERVICE_", "rpc_server_requests_total", PLACE_ORDER) == 1
    client_calls = "rpc_client_requests_total"
    assert rpc_count(orders, "ORDER_SERVICE_", client_calls, GET_USER) == 1

    handled = [
        json.loads(line)
        for line in users.log().splitlines()
        if '"consumer": "user-order-counts"' in line and "handled" in line
    ]
    assert handled, "the consumer wrote no line for the event"
    for line in handled:
        assert (line["trace_id"], line["request_id"]) == (trace_id, request_id)
