"""The pgoutput v1 decoder, on bytes built to the documented message formats."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from protomesh.cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Change,
    Commit,
    DecodeError,
    Decoder,
    Ignored,
    LogicalMessage,
    Relation,
    Truncate,
    format_lsn,
    parse_lsn,
)

OID = 16390
WHEN = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MICROS = int((WHEN - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)


def text(value: str) -> bytes:
    return value.encode() + b"\0"


def relation() -> bytes:
    columns = b"".join(
        struct.pack(">B", 1) + text(name) + struct.pack(">Ii", type_oid, -1)
        for name, type_oid in (("id", 2950), ("status", 25), ("items", 3802))
    )
    return (
        b"R"
        + struct.pack(">I", OID)
        + text("orders")
        + text("orders")
        + b"f"
        + (struct.pack(">H", 3) + columns)
    )


def tuple_data(*values: str | object | None) -> bytes:
    out = struct.pack(">H", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            raw = str(value).encode()
            out += b"t" + struct.pack(">I", len(raw)) + raw
    return out


def decoded_with_relation(data: bytes) -> object:
    decoder = Decoder()
    assert isinstance(decoder.decode(relation()), Relation)
    return decoder.decode(data)


def test_begin_and_commit_carry_the_positions_and_the_commit_time() -> None:
    decoder = Decoder()
    begin = decoder.decode(b"B" + struct.pack(">QqI", 0x1_0000_00A0, MICROS, 742))
    assert begin == Begin(0x1_0000_00A0, WHEN, 742)
    commit = decoder.decode(b"C" + struct.pack(">BQQq", 0, 0x1_0000_00A0, 0x1_0000_00D8, MICROS))
    assert commit == Commit(0x1_0000_00A0, 0x1_0000_00D8, WHEN)


def test_a_relation_names_its_columns_and_replica_identity() -> None:
    decoded = Decoder().decode(relation())
    assert isinstance(decoded, Relation)
    assert (decoded.schema, decoded.table, decoded.replica_identity) == ("orders", "orders", "f")
    assert [c.name for c in decoded.columns] == ["id", "status", "items"]


def test_insert_update_and_delete_give_rows_by_column_name() -> None:
    insert = decoded_with_relation(
        b"I" + struct.pack(">I", OID) + b"N" + tuple_data("a", "NEW", "[]")
    )
    assert isinstance(insert, Change)
    assert (insert.operation, insert.old, insert.new) == (
        "insert",
        None,
        {"id": "a", "status": "NEW", "items": "[]"},
    )
    update = decoded_with_relation(
        b"U"
        + struct.pack(">I", OID)
        + b"O"
        + tuple_data("a", "NEW", "[1]")
        + b"N"
        + tuple_data("a", None, UNCHANGED)
    )
    assert isinstance(update, Change)
    assert update.old == {"id": "a", "status": "NEW", "items": "[1]"}
    assert update.new == {"id": "a", "status": None, "items": UNCHANGED}
    delete = decoded_with_relation(
        b"D" + struct.pack(">I", OID) + b"K" + tuple_data("a", None, None)
    )
    assert isinstance(delete, Change)
    assert (delete.operation, delete.new) == ("delete", None)


def test_truncate_messages_and_origins() -> None:
    truncate = decoded_with_relation(b"T" + struct.pack(">IBI", 1, 0, OID))
    assert isinstance(truncate, Truncate)
    assert [r.table for r in truncate.relations] == ["orders"]
    message = Decoder().decode(
        b"M" + struct.pack(">BQ", 1, 0xA0) + text("protomesh") + struct.pack(">I", 2) + b"hi"
    )
    assert message == LogicalMessage(True, 0xA0, "protomesh", b"hi")
    assert Decoder().decode(b"O" + struct.pack(">Q", 1) + text("origin")) == Ignored("O")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"I" + struct.pack(">I", 99) + b"N", "before its Relation"),
        (b"Z", "unknown pgoutput message kind"),
        (b"B" + b"\0" * 3, "message ends early"),
    ],
)
def test_malformed_messages_fail_clearly(data: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        Decoder().decode(data)


def test_a_tuple_must_match_its_relation() -> None:
    with pytest.raises(DecodeError, match="tuple has 2 columns, its Relation 3"):
        decoded_with_relation(b"I" + struct.pack(">I", OID) + b"N" + tuple_data("a", "b"))


def test_lsn_text_round_trips() -> None:
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    with pytest.raises(DecodeError):
        parse_lsn("nonsense")
