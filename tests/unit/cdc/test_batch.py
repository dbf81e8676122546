"""A pass over the slot: whole transactions become events positioned by commit LSN and index."""

from __future__ import annotations

import struct

from shop.order.changes.v1 import changes_pb2

from protomesh.cdc.batch import decode_batch
from protomesh.cdc.events import TableEvents
from protomesh.cdc.naming import CaptureNames
from tests.unit.cdc.test_pgoutput import MICROS, OID, relation, tuple_data

BUILDERS = {
    "orders": TableEvents(
        CaptureNames("order"), "orders", "shop.order.changes.v1.OrderChanged", ("id",)
    )
}


def transaction(commit_lsn: int, end_lsn: int, *ids: str) -> list[bytes]:
    inserts = [
        b"I" + struct.pack(">I", OID) + b"N" + tuple_data(order_id, "PENDING", "[]")
        for order_id in ids
    ]
    return [
        b"B" + struct.pack(">QqI", commit_lsn, MICROS, 9),
        relation(),
        *inserts,
        b"C" + struct.pack(">BQQq", 0, commit_lsn, end_lsn, MICROS),
    ]


def test_each_change_is_positioned_in_its_transaction_and_the_slot_may_go_past_the_last() -> None:
    batch = decode_batch(
        [*transaction(0xA0, 0xB0, "a", "b"), *transaction(0xC0, 0xD0, "c")], BUILDERS
    )
    changes = [changes_pb2.OrderChanged.FromString(event.payload) for _, event in batch.events]
    assert [(c.key, c.commit_lsn, c.index) for c in changes] == [
        ("a", 0xA0, 0),
        ("b", 0xA0, 1),
        ("c", 0xC0, 0),
    ]
    assert [event.event_id for _, event in batch.events] == [
        "protomesh_cdc_order:0/A0:0",
        "protomesh_cdc_order:0/A0:1",
        "protomesh_cdc_order:0/C0:0",
    ]
    assert batch.last_commit_end == 0xD0


def test_an_empty_pass_moves_nothing() -> None:
    batch = decode_batch([], BUILDERS)
    assert (batch.events, batch.last_commit_end) == ([], None)
