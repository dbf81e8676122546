"""Pattern 11, event schema governance: one envelope, a declared catalogue, safe evolution.

- Every event carries its CloudEvents binary-mode headers, set in one place
  (`protomesh.bus.cloudevents`), here as the real outbox relay publishes them.
- mesh.yaml says who produces and who consumes each type: the registry
  refuses a consumer of a type nobody produces, the outbox refuses a type its
  service did not declare, and `protomesh events` prints the catalogue.
- Evolution: a field added to a v1 event is read by the old consumer
  unchanged; removing or retyping one fails `buf breaking`; a v2 package is
  published beside v1 while v1's consumer keeps working; a major version the
  consumer was not written for goes to the dead letters with its reason.

NATS, PostgreSQL and buf are real; the consumer is the user service's own
(orders per customer, from ORDER_EVENTS). Mutations tried, each failing a
test here: dropping `ce-dataschema` from `envelope()`; removing
`check_declared` from `append_event`; removing `check_event_flow` from the
registry reader; widening the order-count consumer's filter back to
`order.events.>` (v2 events then land in its dead letters).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from shop.order.events.v1 import events_pb2 as order_events
from shop.user.events.v1 import events_pb2 as user_events

from protomesh.bus.consumer import ConsumerSpec, DurableConsumer
from protomesh.bus.dead_letters import ORIGINAL_MSG_ID, REASON
from protomesh.bus.decoding import DecodedEvent, EventTypes
from protomesh.bus.publisher import JetStreamPublisher, OutgoingEvent
from protomesh.bus.streams import ensure_streams
from protomesh.outbox import OutboxRelay, UndeclaredEventType, append_event, declare_produced
from protomesh.outbox.declared import forget_declaration
from protomesh.outbox.naming import schema_version, source_for, subject_for
from protomesh.paths import DESCRIPTOR_SET, ROOT
from protomesh.registry import DEFAULT_MESH_FILE, RegistryError, RpcCatalogue, parse_mesh
from protomesh_toolkit.cli import main as protomesh
from protomesh_toolkit.contracts.breaking import FOUND_PROBLEMS
from protomesh_toolkit.contracts.event_catalogue import build_catalogue, event_messages, render
from services.order.streams import ORDER_EVENTS
from services.user.order_counts import EVENT_TYPES, SPEC, OrderCount, OrderCountProjection
from tests.contracts.workspace import ProtoWorkspace
from tests.support.consumers import dead_letters, eventually, publish_event, schema_pool
from tests.support.nats import MESH_STREAMS, Nats
from tests.support.outbox import create_outbox, stream_messages
from tests.support.postgres import Postgres

pytestmark = pytest.mark.integration

ORDER_EVENTS_V1 = "proto/shop/order/events/v1/events.proto"
ORDER_COUNTS_SQL = (
    ROOT / "services/user/migrations/010_create_customer_order_counts.sql"
).read_text()
CUSTOMER_LINE = "  // The customer who placed it.\n  string customer_id = 2;\n"
# OrderPlaced's next major: the total as minor units and a currency code instead of Money.
ORDER_EVENTS_V2 = """syntax = "proto3";

// Facts the order context publishes, major version 2 (published beside v1
// for a deprecation window).
package shop.order.events.v2;

import "google/protobuf/timestamp.proto";

// OrderPlaced: a customer placed an order.
message OrderPlaced {
  // The order's id.
  string order_id = 1;
  // The customer who placed it.
  string customer_id = 2;
  // The order total in minor units (cents).
  int64 total_minor_units = 3;
  // ISO 4217 code of the total.
  string currency_code = 4;
  // When the order was placed.
  google.protobuf.Timestamp occur_time = 5;
}
"""


def mesh_document() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(DEFAULT_MESH_FILE.read_text()))


def problems_in(document: dict[str, Any]) -> list[str]:
    with pytest.raises(RegistryError) as raised:
        parse_mesh(yaml.safe_dump(document, sort_keys=False))
    return raised.value.problems


def message_classes(image: Path, *names: str) -> dict[str, Any]:
    """Classes for messages of a descriptor set built from a mutated copy of the contracts
    (made at run time, so typed as Any: their fields are not known to mypy)."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes()).file:
        pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name)) for name in names
    }


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contracts as they are, built once: what each mutation is compared with."""
    return ProtoWorkspace.copy_of(ROOT, tmp_path_factory.mktemp("base") / "protos").image("base")


@pytest.fixture
def workspace(tmp_path: Path) -> ProtoWorkspace:
    """A scratch copy of the contracts this test may change."""
    return ProtoWorkspace.copy_of(ROOT, tmp_path / "protos")


# --- One envelope ------------------------------------------------------------------------


@dataclass
class Bus:
    js: JetStreamContext
    client: Client
    publisher: JetStreamPublisher
    pool: asyncpg.Pool

    async def publish(self, message: Message) -> str:
        """Publish as the outbox relay does (the envelope comes from `OutgoingEvent`)."""
        full_name = message.DESCRIPTOR.full_name
        event = OutgoingEvent(
            event_id=str(uuid.uuid4()),
            event_type=full_name,
            schema_version=schema_version(full_name),
            subject=subject_for(full_name),
            payload=message.SerializeToString(),
            occurred_at=datetime.now(UTC),
            source=source_for(full_name),
            aggregate_type="order",
            aggregate_id=str(uuid.uuid4()),
            sequence=0,
        )
        assert await self.publisher.publish_all([event]) == [None]
        return event.event_id

    async def counted(self, customer: uuid.UUID, placed: int) -> bool:
        """The order-count projection shows `placed` orders for `customer`."""
        count = await OrderCountProjection(self.pool).count_for(customer)
        return count.placed == placed

    async def settled(self, durable: str) -> bool:
        try:
            info = await self.js.consumer_info(ORDER_EVENTS.name, durable)
        except NotFoundError:
            return False
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)


@pytest.fixture
async def bus(own_nats: Nats, postgres: Postgres) -> AsyncIterator[Bus]:
    client, js = await own_nats.jetstream("p11")
    await ensure_streams(js, MESH_STREAMS)
    try:
        async with schema_pool(postgres, ORDER_COUNTS_SQL) as pool:
            yield Bus(js, client, JetStreamPublisher(client), pool)
    finally:
        for stream in MESH_STREAMS:
            await js.delete_stream(stream.name)
        await client.close()


async def test_the_relay_publishes_every_event_with_its_cloudevents_headers(
    bus: Bus, own_nats: Nats, postgres: Postgres
) -> None:
    outbox = await create_outbox(postgres)
    relay = OutboxRelay(outbox.database, own_nats.url, streams=[ORDER_EVENTS])
    await relay.start()
    try:
        event_id = await outbox.write(str(uuid.uuid4()), 0)

        async def published() -> bool:
            return len(await stream_messages(bus.js)) == 1

        await eventually(published)
    finally:
        await relay.stop()
        await outbox.close()
    [message] = await stream_messages(bus.js)
    headers = message.headers or {}
    assert headers["ce-id"] == headers["Nats-Msg-Id"] == event_id
    assert headers["ce-type"] == "shop.order.events.v1.OrderCancelled"
    assert headers["ce-source"] == "/shop/order"
    assert headers["ce-specversion"] == "1.0"
    assert datetime.fromisoformat(headers["ce-time"]).tzinfo is not None
    assert headers["ce-dataschema"] == "proto:shop/order/events/v1/events.proto#OrderCancelled"
    assert headers["ce-datacontenttype"] == "application/protobuf"
    assert headers["schema-version"] == "1"
    # The schema reference names the file that really defines the message.
    assert event_messages(DESCRIPTOR_SET)[headers["ce-type"]] == "shop/order/events/v1/events.proto"


# --- A declared catalogue ----------------------------------------------------------------


def test_the_registry_refuses_a_consumer_of_a_type_nobody_produces() -> None:
    document = mesh_document()
    document["services"]["user"]["consumes"].append("shop.order.events.v1.OrderShipped")
    assert problems_in(document) == [
        "services.user.consumes[2]: no service produces shop.order.events.v1.OrderShipped"
        " (did you mean shop.order.events.v1.OrderPlaced?)"
    ]


def test_the_registry_refuses_a_second_producer_and_a_type_the_contracts_lack() -> None:
    document = mesh_document()
    document["services"]["order"]["produces"].append("shop.user.events.v1.UserRegistered")
    assert problems_in(document) == [
        "services.order.produces[2]: shop.user.events.v1.UserRegistered is already produced by "
        "services.user; an event type has one owner"
    ]
    document = mesh_document()
    document["services"]["order"]["produces"].append("shop.order.events.v1.OrderShipped")
    with pytest.raises(RegistryError) as raised:
        parse_mesh(yaml.safe_dump(document), catalogue=RpcCatalogue.load(DESCRIPTOR_SET))
    assert raised.value.problems == [
        f"services.order.produces[2]: shop.order.events.v1.OrderShipped (no such message in "
        f"{DESCRIPTOR_SET})"
    ]


async def test_the_outbox_refuses_an_event_type_its_service_does_not_produce(
    postgres: Postgres,
) -> None:
    outbox = await create_outbox(postgres)
    order = parse_mesh(DEFAULT_MESH_FILE.read_text()).services["order"]
    declare_produced(order.produces)  # as the order service's bootstrap does
    try:
        async with outbox.pool.acquire() as connection, connection.transaction():
            await append_event(
                connection,
                aggregate_type="order",
                aggregate_id="o-1",
                sequence=0,
                event=order_events.OrderPlaced(order_id="o-1"),
            )
        with pytest.raises(UndeclaredEventType, match="UserRegistered is not in this service"):
            async with outbox.pool.acquire() as connection, connection.transaction():
                await append_event(
                    connection,
                    aggregate_type="user",
                    aggregate_id="u-1",
                    sequence=0,
                    event=user_events.UserRegistered(user_id="u-1"),
                )
        rows = await outbox.pool.fetch("SELECT event_type FROM outbox")
        assert [row["event_type"] for row in rows] == ["shop.order.events.v1.OrderPlaced"]
    finally:
        forget_declaration()
        await outbox.close()


def test_protomesh_events_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert protomesh(["events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SUBJECT", "TYPE", "VERSIONS", "PRODUCER", "CONSUMERS"]
    rows = {line.split()[1]: line.split(None, 4) for line in lines[1:5]}
    assert rows["shop.order.events.v1.OrderPlaced"] == [
        "order.events.v1.OrderPlaced",
        "shop.order.events.v1.OrderPlaced",
        "v1*",
        "order",
        "user, reporting, bff",  # bff evicts cached screens on it
    ]
    assert rows["shop.user.events.v1.UserRegistered"][3:] == ["user", "order, reporting"]
    assert not [line for line in lines if line.startswith("problem:")]


# --- Evolution ---------------------------------------------------------------------------


async def test_a_field_added_to_a_v1_event_is_read_by_the_old_consumer_unchanged(
    bus: Bus, workspace: ProtoWorkspace, base_image: Path
) -> None:
    workspace.replace(
        ORDER_EVENTS_V1,
        CUSTOMER_LINE,
        CUSTOMER_LINE + "  // A promotion applied to the order.\n  string coupon_code = 6;\n",
    )
    assert workspace.breaking(base_image).passed  # additive: buf lets it through
    newer = message_classes(workspace.image("v1-plus"), "shop.order.events.v1.OrderPlaced")
    customer = uuid.uuid4()
    event = newer["shop.order.events.v1.OrderPlaced"](
        order_id="o-new", customer_id=str(customer), coupon_code="SPRING"
    )
    seen: list[Message] = []
    counts = OrderCountProjection(bus.pool)

    async def handle(decoded: DecodedEvent) -> None:
        seen.append(decoded.message)
        await counts.handle(decoded)

    consumer = DurableConsumer(bus.client, SPEC, EVENT_TYPES, handle)  # built from the old proto
    await consumer.start()
    try:
        await bus.publish(event)
        await eventually(lambda: bus.counted(customer, 1))
        await eventually(lambda: bus.settled(SPEC.durable))
    finally:
        await consumer.stop()
    assert await counts.count_for(customer) == OrderCount(placed=1, cancelled=0)
    [old] = seen
    assert isinstance(old, order_events.OrderPlaced)
    assert (old.order_id, old.customer_id) == ("o-new", str(customer))


def test_removing_a_field_of_an_event_fails_buf_breaking(
    workspace: ProtoWorkspace, base_image: Path
) -> None:
    workspace.replace(ORDER_EVENTS_V1, CUSTOMER_LINE, "")
    result = workspace.breaking(base_image)
    assert result.returncode == FOUND_PROBLEMS, result.output
    assert 'field "2" with name "customer_id" on message "OrderPlaced" was deleted' in (
        result.output
    )


def test_retyping_a_field_of_an_event_fails_buf_breaking(
    workspace: ProtoWorkspace, base_image: Path
) -> None:
    workspace.replace(ORDER_EVENTS_V1, CUSTOMER_LINE, CUSTOMER_LINE.replace("string", "int64"))
    result = workspace.breaking(base_image)
    assert result.returncode == FOUND_PROBLEMS, result.output
    assert 'changed type from "string" to "int64"' in result.output


@pytest.fixture
def v2_image(workspace: ProtoWorkspace, base_image: Path) -> Path:
    """The contracts plus shop.order.events.v2, which buf accepts as a new package."""
    workspace.add("proto/shop/order/events/v2/events.proto", ORDER_EVENTS_V2)
    assert workspace.breaking(base_image).passed
    return workspace.image("with-v2")


async def test_a_v2_package_is_published_beside_v1_while_v1_consumers_keep_working(
    bus: Bus, v2_image: Path
) -> None:
    v2_placed = message_classes(v2_image, "shop.order.events.v2.OrderPlaced")[
        "shop.order.events.v2.OrderPlaced"
    ]
    customer = uuid.uuid4()
    counts = OrderCountProjection(bus.pool)
    v1_consumer = DurableConsumer(bus.client, SPEC, EVENT_TYPES, counts.handle)
    v2_spec = ConsumerSpec(ORDER_EVENTS.name, "p11-v2-reader", "order.events.v2.>")
    read_by_v2: list[Message] = []

    async def v2_handler(decoded: DecodedEvent) -> None:
        read_by_v2.append(decoded.message)

    v2_consumer = DurableConsumer(bus.client, v2_spec, EventTypes([v2_placed]), v2_handler)
    await v1_consumer.start()
    await v2_consumer.start()
    try:
        # The deprecation window: the producer publishes each fact in both majors.
        await bus.publish(order_events.OrderPlaced(order_id="o-1", customer_id=str(customer)))
        await bus.publish(
            v2_placed(
                order_id="o-1",
                customer_id=str(customer),
                total_minor_units=1250,
                currency_code="EUR",
            )
        )
        await eventually(lambda: bus.counted(customer, 1))

        async def v2_read() -> bool:
            return len(read_by_v2) == 1

        await eventually(v2_read)
        await eventually(lambda: bus.settled(SPEC.durable))
        await eventually(lambda: bus.settled(v2_spec.durable))
    finally:
        await v1_consumer.stop()
        await v2_consumer.stop()
    assert await counts.count_for(customer) == OrderCount(placed=1, cancelled=0)
    [v2_event] = read_by_v2
    assert v2_event.DESCRIPTOR.full_name == "shop.order.events.v2.OrderPlaced"
    with pytest.raises(TimeoutError):  # the v1 consumer parked nothing: v2 is not its subject
        await dead_letters(bus.js, "dlq.order.events.>", expected=1)


def test_the_catalogue_lists_both_majors_during_the_deprecation_window(v2_image: Path) -> None:
    document = mesh_document()
    document["services"]["order"]["produces"].append("shop.order.events.v2.OrderPlaced")
    mesh = parse_mesh(yaml.safe_dump(document))
    catalogue = build_catalogue(mesh, event_messages(v2_image))
    entries = {entry.type: entry for entry in catalogue.entries}
    assert entries["shop.order.events.v1.OrderPlaced"].versions == (1, 2)
    assert entries["shop.order.events.v2.OrderPlaced"].subject == "order.events.v2.OrderPlaced"
    assert entries["shop.order.events.v2.OrderPlaced"].consumers == ()
    assert catalogue.problems == ()
    assert "v1, v2*" in render(catalogue)
    # A v2 in the contracts that no service declares producing is reported, not hidden.
    undeclared = build_catalogue(
        parse_mesh(DEFAULT_MESH_FILE.read_text()), event_messages(v2_image)
    )
    assert undeclared.problems == (
        "shop.order.events.v2.OrderPlaced: no service in mesh.yaml produces it",
    )


async def test_an_unknown_major_version_goes_to_the_dead_letters_with_its_reason(
    bus: Bus,
) -> None:
    customer = uuid.uuid4()
    counts = OrderCountProjection(bus.pool)
    consumer = DurableConsumer(bus.client, SPEC, EVENT_TYPES, counts.handle)
    await consumer.start()
    try:
        from_v3 = await publish_event(
            bus.js,
            "order.events.v1.OrderPlaced",
            order_events.OrderPlaced(order_id="o-3", customer_id=str(customer)),
            schema_version="3",
        )
        await eventually(lambda: bus.settled(SPEC.durable))
    finally:
        await consumer.stop()
    [parked] = await dead_letters(bus.js, "dlq.order.events.>", expected=1)
    assert parked.headers is not None
    assert parked.headers[ORIGINAL_MSG_ID] == from_v3
    assert "unknown major schema version 3" in parked.headers[REASON]
    assert await counts.count_for(customer) == OrderCount(0, 0)
