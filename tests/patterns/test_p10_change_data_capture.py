"""Pattern 10: change data capture from the WAL, with the real PostgreSQL and NATS.

Proven here: the real order service's PlaceOrder and CancelOrder, and rows
written to the order tables by plain SQL (no event written by anyone),
reach JetStream as typed `OrderChanged` events, in commit order, with the
old row on UPDATE/DELETE; the slot's confirmed position survives a worker
restart and a database restart (changes made meanwhile arrive, none twice);
a worker killed with SIGKILL mid-stream, under writes, after publishing
changes it had not yet confirmed, is restarted and every change is stored
exactly once, and so is every change when NATS is killed; a slot PostgreSQL
invalidated (max_slot_wal_keep_size) is reported and re-made with a snapshot.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from shop.order.changes.v1 import changes_pb2
from shop.order.v1 import order_pb2 as order_v1
from shop.order.v1 import order_pb2_grpc as order_v1_grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh.cdc.naming import CaptureNames
from tests.support import mesh_tls
from tests.support.cdc import (
    ScratchOrders,
    cdc_process,
    confirmed_lsn,
    drop_capture,
    received,
    running,
    scratch_orders,
    stored_count,
    watching,
)
from tests.support.nats import Nats, start_nats
from tests.support.order_service import role_of, running_user_and_order, schema_of
from tests.support.outbox import eventually
from tests.support.ports import free_port
from tests.support.postgres import Postgres, start_postgres
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.integration

Op = changes_pb2.Operation


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[Nats]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def js(own_nats: Nats) -> AsyncIterator[JetStreamContext]:
    client: Client = await own_nats.connect()
    yield client.jetstream()
    await client.close()


@pytest.fixture
async def orders(postgres: Postgres) -> AsyncIterator[ScratchOrders]:
    scratch = await scratch_orders(postgres)
    yield scratch
    await scratch.pool.close()
    await drop_capture(postgres, scratch.names)


def assert_exactly_once_in_commit_order(changes: list[changes_pb2.OrderChanged]) -> None:
    positions = [(c.commit_lsn, c.index) for c in changes]
    assert len(set(positions)) == len(positions), "a change was stored twice"
    assert positions == sorted(positions), "changes out of commit order"


async def test_row_changes_are_captured_from_the_wal_as_typed_events(
    postgres: Postgres, orders: ScratchOrders, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    worker = cdc_process(postgres, orders, own_nats.url, tmp_path)
    await running(worker, js, orders.names)
    try:
        placed = await orders.place(4, per_transaction=2)
        await orders.cancel(placed[0])
        await orders.delete(placed[1])
        await eventually(lambda: _count_is(js, orders, 6), message="six changes")
    finally:
        assert worker.terminate() == 0
    got = await received(js, orders.names)
    changes = [r.change for r in got]
    assert [c.operation for c in changes] == [Op.OPERATION_INSERT] * 4 + [
        Op.OPERATION_UPDATE,
        Op.OPERATION_DELETE,
    ]
    assert [c.key for c in changes] == [*placed, placed[0], placed[1]]
    # Two orders per transaction: one commit LSN, indexes 0 and 1.
    assert changes[0].commit_lsn == changes[1].commit_lsn != changes[2].commit_lsn
    assert [c.index for c in changes[:4]] == [0, 1, 0, 1]
    update = changes[4]
    assert (update.before.status, update.before.version) == ("PENDING", 1)
    assert (update.after.status, update.after.version) == ("CANCELLED", 2)
    assert update.after.total_minor == 1250
    assert update.after.items.startswith("[{")
    assert update.after.created_at.seconds > 0
    assert update.commit_time.seconds > 0
    assert changes[5].before.id == placed[1]
    assert not changes[5].HasField("after")
    # The dedupe id is the WAL position.
    assert got[0].message_id == orders.names.message_id(changes[0].commit_lsn, 0)
    assert_exactly_once_in_commit_order(changes)


async def test_the_order_services_own_writes_are_captured_without_it_publishing_them(
    postgres: Postgres, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    # The real user and order services; the order service's NATS URL leads nowhere,
    # so nothing it publishes itself can reach the stream.
    with running_user_and_order(postgres, tmp_path) as (users, service):
        names = CaptureNames(f"order_{secrets.token_hex(3)}")
        role, _ = role_of(service, "ORDER_SERVICE_")
        worker = watching(
            postgres, names, role, schema_of(service), nats_url=own_nats.url, directory=tmp_path
        )
        await running(worker, js, names)
        try:
            customer = await _customer(users)
            async with mesh_tls.aio_channel(service.address, "operator") as channel:
                orders = order_v1_grpc.OrderServiceStub(channel)
                placed = await orders.PlaceOrder(
                    order_v1.PlaceOrderRequest(customer_id=customer, items=[_line()]), timeout=5
                )
                order_id = placed.order.order_id
                await orders.CancelOrder(order_v1.CancelOrderRequest(order_id=order_id), timeout=5)
            await eventually(lambda: _stored(js, names, 2), message="the insert and the update")
        finally:
            assert worker.terminate() == 0
            await drop_capture(postgres, names)
    inserted, cancelled = [r.change for r in await received(js, names)]
    assert (inserted.operation, inserted.key, inserted.after.status) == (
        Op.OPERATION_INSERT,
        order_id,
        "PENDING",
    )
    assert inserted.after.customer_id == customer
    assert (cancelled.operation, cancelled.before.status, cancelled.after.status) == (
        Op.OPERATION_UPDATE,
        "PENDING",
        "CANCELLED",
    )


async def _customer(users: ServiceProcess) -> str:
    async with mesh_tls.aio_channel(users.address) as channel:
        created = await user_v1_grpc.UserServiceStub(channel).CreateUser(
            user_v1.CreateUserRequest(email=f"{uuid.uuid4().hex}@p10.example", display_name="C"),
            timeout=5,
        )
    return created.user.user_id


def _line() -> order_v1.LineItem:
    price = order_v1.Money(currency_code="EUR", amount_minor=1250)
    return order_v1.LineItem(sku="BOOK-1", quantity=1, unit_price=price)


async def _stored(js: JetStreamContext, names: CaptureNames, count: int) -> bool:
    return await stored_count(js, names) == count


async def _count_is(js: JetStreamContext, orders: ScratchOrders, count: int) -> bool:
    return await stored_count(js, orders.names) == count


async def _count_at_least(js: JetStreamContext, orders: ScratchOrders, count: int) -> bool:
    return await stored_count(js, orders.names) >= count


async def test_the_slot_position_survives_a_restart_without_loss(
    postgres: Postgres, orders: ScratchOrders, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    first = cdc_process(postgres, orders, own_nats.url, tmp_path)
    await running(first, js, orders.names)
    try:
        before = await orders.place(10)
        await eventually(lambda: _count_is(js, orders, 10), message="the first ten")
    finally:
        assert first.terminate() == 0
    confirmed = await confirmed_lsn(postgres, orders.names)
    assert confirmed >= max(r.change.commit_lsn for r in await received(js, orders.names))

    during = await orders.place(10)  # nobody is reading the slot: the WAL keeps them

    second = cdc_process(postgres, orders, own_nats.url, tmp_path)
    second.start()
    try:
        await eventually(lambda: _count_is(js, orders, 20), message="the ten written while down")
    finally:
        assert second.terminate() == 0
    changes = [r.change for r in await received(js, orders.names)]
    assert [c.key for c in changes] == before + during
    assert_exactly_once_in_commit_order(changes)


async def test_nats_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    postgres: Postgres, orders: ScratchOrders, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    worker = cdc_process(postgres, orders, own_nats.url, tmp_path, max_backoff="0.5")
    await running(worker, js, orders.names)
    try:
        before = await orders.place(60, per_transaction=3)
        await eventually(lambda: _count_at_least(js, orders, 1), message="changes flowing")
        own_nats.kill()
        during = await orders.place(60, per_transaction=3)  # the WAL keeps them
        own_nats.start()
        await eventually(lambda: _count_is(js, orders, 120), message="all 120 changes")
    finally:
        assert worker.terminate() == 0
    changes = [r.change for r in await received(js, orders.names)]
    assert [c.key for c in changes] == before + during
    assert_exactly_once_in_commit_order(changes)


async def test_the_slot_position_survives_a_database_restart(
    tmp_path: Path, own_nats: Nats, js: JetStreamContext
) -> None:
    (tmp_path / "pg").mkdir()
    database = start_postgres(tmp_path / "pg")  # a server of its own, to restart
    try:
        orders = await scratch_orders(database)
        worker = cdc_process(database, orders, own_nats.url, tmp_path)
        await running(worker, js, orders.names)
        try:
            before = await orders.place(5)
            await eventually(lambda: _count_is(js, orders, 5), message="the first five")
        finally:
            assert worker.terminate() == 0
        during = await orders.place(5)
        await orders.pool.close()
        database.server.stop()
        database.server.start()  # the slot and its confirmed position are on disk
        worker.start()
        try:
            await eventually(
                lambda: _count_is(js, orders, 10), message="the five before the restart"
            )
        finally:
            assert worker.terminate() == 0
        changes = [r.change for r in await received(js, orders.names)]
        assert [c.key for c in changes] == before + during
        assert_exactly_once_in_commit_order(changes)
    finally:
        database.server.stop()


async def test_a_worker_killed_mid_stream_under_writes_delivers_each_change_exactly_once(
    postgres: Postgres, orders: ScratchOrders, own_nats: Nats, js: JetStreamContext, tmp_path: Path
) -> None:
    # Big passes acknowledged one publish at a time: a kill lands between
    # publishing a pass and confirming it, so the restart re-publishes.
    crashing = cdc_process(
        postgres, orders, own_nats.url, tmp_path, batch_size="5000", max_in_flight="1"
    )
    await prepared(postgres, orders, own_nats, js, tmp_path)
    await orders.place(900, per_transaction=3)  # waiting in the WAL before the worker starts
    writer = asyncio.create_task(orders.place(300, per_transaction=3))  # and more during
    crashing.start()
    try:
        await eventually(
            lambda: _count_at_least(js, orders, 100), message="the pass under way", every=0.002
        )
        crashing.kill()
    finally:
        crashing.kill()
    stored = await received(js, orders.names)
    assert len(stored) < 1200
    # Published but not confirmed: the slot will hand these out again.
    assert await confirmed_lsn(postgres, orders.names) < max(r.change.commit_lsn for r in stored)

    await writer
    restarted = cdc_process(postgres, orders, own_nats.url, tmp_path)
    restarted.start()
    try:
        await eventually(lambda: _count_is(js, orders, 1200), message="all 1200 changes")
        await asyncio.sleep(0.5)  # a duplicate would arrive now; none may
    finally:
        assert restarted.terminate() == 0
    got = await received(js, orders.names)
    assert len(got) == 1200
    assert len({r.message_id for r in got}) == 1200
    assert {r.change.key for r in got} == set(await orders.rows())
    assert_exactly_once_in_commit_order([r.change for r in got])


async def prepared(
    postgres: Postgres, orders: ScratchOrders, nats: Nats, js: JetStreamContext, directory: Path
) -> None:
    """Run a worker once, so the slot exists before anything is written."""
    setup = cdc_process(postgres, orders, nats.url, directory)
    await running(setup, js, orders.names)
    assert setup.terminate() == 0


async def test_an_invalidated_slot_is_reported_and_remade_with_a_snapshot(
    tmp_path: Path, own_nats: Nats, js: JetStreamContext
) -> None:
    # A server of its own: the slot may hold at most 1 MB of WAL.
    (tmp_path / "pg").mkdir()
    small = start_postgres(tmp_path / "pg", {"max_slot_wal_keep_size": "1MB"})
    try:
        orders = await scratch_orders(small)
        metrics_port = free_port()
        worker = cdc_process(small, orders, own_nats.url, tmp_path, metrics_port=str(metrics_port))
        await running(worker, js, orders.names)
        try:
            kept = await orders.place(3)
            await eventually(lambda: _count_is(js, orders, 3), message="the first changes")
        finally:
            assert worker.terminate() == 0
        lost = await orders.place(2)  # while the worker is away ...
        await _outgrow_the_slot(small)  # ... the slot falls past max_slot_wal_keep_size

        worker.start()
        try:
            await eventually(lambda: _count_is(js, orders, 8), message="a snapshot of 5 rows")
            snapshot = [r.change for r in (await received(js, orders.names))[3:]]
            assert {c.operation for c in snapshot} == {Op.OPERATION_SNAPSHOT}
            assert {c.key for c in snapshot} == {*kept, *lost}
            assert {c.after.status for c in snapshot} == {"PENDING"}
            text = await asyncio.to_thread(_scrape, metrics_port)
            assert b"cdc_slot_invalidations_total{slot=" in text
            assert b"cdc_slot_lag_bytes{slot=" in text
            # And it captures again from the new slot.
            [after] = await orders.place(1)
            await eventually(lambda: _count_is(js, orders, 9), message="a change after it")
            last = (await received(js, orders.names))[-1].change
            assert (last.operation, last.key) == (Op.OPERATION_INSERT, after)
        finally:
            assert worker.terminate() == 0
        assert "was invalidated" in worker.log_file.read_text()
        await orders.pool.close()
    finally:
        small.server.stop()


def _scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return bytes(reply.read())


async def _outgrow_the_slot(postgres: Postgres) -> None:
    """Write and switch WAL segments, then checkpoint: PostgreSQL invalidates the slot."""
    admin = await postgres.connect()
    try:
        await admin.execute("CREATE TABLE IF NOT EXISTS public.filler (x text)")
        for _ in range(4):
            await admin.execute(
                "INSERT INTO public.filler SELECT repeat('x', 1000) FROM generate_series(1, 2000)"
            )
            await admin.execute("SELECT pg_switch_wal()")
        await admin.execute("CHECKPOINT")
        status = await admin.fetchval("SELECT wal_status FROM pg_replication_slots")
        assert status == "lost"
    finally:
        await admin.close()
