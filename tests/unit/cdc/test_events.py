"""From decoded rows to typed OrderChanged events: fields, ids, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from shop.order.changes.v1 import changes_pb2

from protomesh.cdc.events import Position, TableEvents, snapshot_row
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.pgoutput import UNCHANGED, Row

NAMES = CaptureNames("order")
AT = Position(0x16B3748, 2, datetime(2026, 12, 5, 12, 0, tzinfo=UTC), 731)
ROW: Row = {
    "id": "7d3f0c3e-0000-4000-8000-000000000001",
    "customer_id": "c1",
    "items": '[{"sku": "book"}]',
    "currency": "EUR",
    "total_minor": "1250",
    "status": "PENDING",
    "version": "1",
    "created_at": "2026-12-05 11:59:59.5+00",
    "updated_at": "2026-12-05 11:59:59.5+00",
    "private_note": "not in the contract",
}


def builder() -> TableEvents:
    return TableEvents(NAMES, "orders", "shop.order.changes.v1.OrderChanged", ("id",))


def test_an_update_carries_both_rows_typed_and_its_wal_position() -> None:
    after = {**ROW, "status": "CANCELLED", "version": "2", "items": UNCHANGED}
    event = builder().event("update", ROW, after, AT)
    change = changes_pb2.OrderChanged.FromString(event.payload)
    assert change.operation == changes_pb2.OPERATION_UPDATE
    assert change.key == ROW["id"]
    assert (change.before.status, change.after.status) == ("PENDING", "CANCELLED")
    assert change.after.version == 2
    assert change.after.total_minor == 1250
    assert change.after.items == ROW["items"]  # unchanged TOAST: taken from the old row
    assert change.after.created_at.ToDatetime(tzinfo=UTC) == datetime(
        2026, 12, 5, 11, 59, 59, 500000, tzinfo=UTC
    )
    assert (change.commit_lsn, change.index, change.transaction_id) == (0x16B3748, 2, 731)
    assert event.event_id == "protomesh_cdc_order:0/16B3748:2"
    assert event.subject == "order.changes.v1.orders"
    assert event.occurred_at == AT.commit_time


def test_a_snapshot_row_reads_like_the_wal_would_send_it() -> None:
    row = snapshot_row(
        '{"id": "x", "items": [{"sku": "book"}], "total_minor": 5, "version": 1, '
        '"created_at": "2026-12-05T11:59:59.5+00:00", "currency": null}'
    )
    change = changes_pb2.OrderChanged.FromString(builder().event("snapshot", None, row, AT).payload)
    assert change.operation == changes_pb2.OPERATION_SNAPSHOT
    assert change.after.items == '[{"sku": "book"}]'
    assert change.after.total_minor == 5
    assert not change.HasField("before")


def test_a_message_without_the_change_fields_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="lacks \\(or mistypes\\) the change fields"):
        TableEvents(NAMES, "orders", "shop.order.changes.v1.OrderRow", ("id",))
    with pytest.raises(ValueError, match="no such message"):
        TableEvents(NAMES, "orders", "shop.order.changes.v1.Nope", ("id",))
