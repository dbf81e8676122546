"""Decode PostgreSQL's `pgoutput` logical replication messages (protocol version 1).

The format is documented ("Logical Replication Message Formats"): one
message per row of `pg_logical_slot_peek_binary_changes`, its first byte the
kind. Version 1 is what a slot read over SQL gets; it has no streamed
(in-progress) transactions and sends every column value as text. Only the
standard library: this module does no I/O and is tested on bytes alone.

    B Begin     final (commit) LSN, commit time, xid
    C Commit    flags, commit LSN, end LSN, commit time
    R Relation  oid, schema, table, replica identity, columns (flags, name, type)
    I Insert    oid, new tuple
    U Update    oid, optional old tuple ('O' full row, 'K' key), new tuple
    D Delete    oid, old tuple ('O' or 'K')
    T Truncate  oids
    M Message   flags, LSN, prefix, content (pg_logical_emit_message)
    O Origin, Y Type: decoded and ignored by the worker
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# pgoutput timestamps count microseconds from PostgreSQL's epoch.
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DecodeError(ValueError):
    """The bytes are not a pgoutput v1 message this decoder understands."""


def format_lsn(lsn: int) -> str:
    """PostgreSQL's text form of an LSN.

    >>> format_lsn(0x16B3748)
    '0/16B3748'
    """
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """>>> parse_lsn('1/A0')
    4294967456
    """
    high, _, low = text.partition("/")
    if not low:
        raise DecodeError(f"{text!r} is not an LSN like 0/16B3748")
    return (int(high, 16) << 32) | int(low, 16)


def pg_time(microseconds: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=microseconds)


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    key: bool  # part of the replica identity (every column with REPLICA IDENTITY FULL)


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    table: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]


# A tuple's values by column name: text, None for NULL, UNCHANGED for a
# TOASTed value the update did not touch (pgoutput does not resend it).
UNCHANGED = object()
Value = str | None | object
Row = dict[str, Value]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True)
class Change:
    """An INSERT, UPDATE or DELETE of one row; `old` is None unless the WAL carries it."""

    operation: str  # insert | update | delete
    relation: Relation
    old: Row | None
    new: Row | None


@dataclass(frozen=True)
class Truncate:
    relations: tuple[Relation, ...]


@dataclass(frozen=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


@dataclass(frozen=True)
class Ignored:
    kind: str


Message = Begin | Commit | Relation | Change | Truncate | LogicalMessage | Ignored


@dataclass
class Decoder:
    """Decodes messages in stream order; remembers Relation messages to name columns.

    PostgreSQL sends a Relation before the first change of a table in each
    decoding session (each peek call is one), and again when it changes.
    """

    relations: dict[int, Relation] = field(default_factory=dict)

    def decode(self, data: bytes) -> Message:
        reader = _Reader(data)
        kind = reader.byte()
        if kind == "B":
            return Begin(reader.uint64(), pg_time(reader.int64()), reader.int32())
        if kind == "C":
            reader.int8()  # flags: unused
            return Commit(reader.uint64(), reader.uint64(), pg_time(reader.int64()))
        if kind == "R":
            relation = self._relation(reader)
            self.relations[relation.oid] = relation
            return relation
        if kind == "I":
            relation = self._known(reader.int32())
            reader.expect("N")
            return Change("insert", relation, None, self._tuple(reader, relation))
        if kind == "U":
            relation = self._known(reader.int32())
            marker = reader.byte()
            old = None
            if marker in ("O", "K"):
                old = self._tuple(reader, relation)
                marker = reader.byte()
            if marker != "N":
                raise DecodeError(f"update: expected 'N', got {marker!r}")
            return Change("update", relation, old, self._tuple(reader, relation))
        if kind == "D":
            relation = self._known(reader.int32())
            marker = reader.byte()
            if marker not in ("O", "K"):
                raise DecodeError(f"delete: expected 'O' or 'K', got {marker!r}")
            return Change("delete", relation, self._tuple(reader, relation), None)
        if kind == "T":
            count = reader.int32()
            reader.int8()  # options: CASCADE / RESTART IDENTITY
            return Truncate(tuple(self._known(reader.int32()) for _ in range(count)))
        if kind == "M":
            transactional = bool(reader.int8() & 1)
            lsn = reader.uint64()
            prefix = reader.string()
            return LogicalMessage(transactional, lsn, prefix, reader.take(reader.int32()))
        if kind in ("O", "Y"):
            return Ignored(kind)
        raise DecodeError(f"unknown pgoutput message kind {kind!r}")

    def _known(self, oid: int) -> Relation:
        relation = self.relations.get(oid)
        if relation is None:
            raise DecodeError(f"a change of relation {oid} came before its Relation message")
        return relation

    @staticmethod
    def _relation(reader: _Reader) -> Relation:
        oid = reader.int32()
        schema, table = reader.string(), reader.string()
        identity = chr(reader.int8())
        columns = []
        for _ in range(reader.int16()):
            flags = reader.int8()
            name = reader.string()
            type_oid = reader.int32()
            reader.int32()  # type modifier
            columns.append(Column(name, type_oid, bool(flags & 1)))
        return Relation(oid, schema, table, identity, tuple(columns))

    @staticmethod
    def _tuple(reader: _Reader, relation: Relation) -> Row:
        count = reader.int16()
        if count != len(relation.columns):
            raise DecodeError(
                f"{relation.schema}.{relation.table}: tuple has {count} columns, "
                f"its Relation {len(relation.columns)}"
            )
        row: Row = {}
        for column in relation.columns:
            kind = reader.byte()
            if kind == "n":
                row[column.name] = None
            elif kind == "u":
                row[column.name] = UNCHANGED
            elif kind == "t":
                row[column.name] = reader.take(reader.int32()).decode()
            else:
                raise DecodeError(f"column {column.name}: unknown value kind {kind!r}")
        return row


class _Reader:
    """Big-endian fields off a bytes buffer, failing clearly when it runs short."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def take(self, size: int) -> bytes:
        end = self._at + size
        if size < 0 or end > len(self._data):
            raise DecodeError(f"message ends early: wanted {size} bytes at offset {self._at}")
        chunk = bytes(self._data[self._at : end])
        self._at = end
        return chunk

    def _unpack(self, layout: str, size: int) -> int:
        value: int = struct.unpack(layout, self.take(size))[0]
        return value

    def byte(self) -> str:
        return chr(self._unpack(">B", 1))

    def expect(self, marker: str) -> None:
        got = self.byte()
        if got != marker:
            raise DecodeError(f"expected {marker!r}, got {got!r}")

    def int8(self) -> int:
        return self._unpack(">B", 1)

    def int16(self) -> int:
        return self._unpack(">H", 2)

    def int32(self) -> int:
        return self._unpack(">I", 4)

    def int64(self) -> int:
        return self._unpack(">q", 8)

    def uint64(self) -> int:
        return self._unpack(">Q", 8)

    def string(self) -> str:
        end = bytes(self._data[self._at :]).find(b"\0")
        if end < 0:
            raise DecodeError(f"unterminated string at offset {self._at}")
        text = self.take(end).decode()
        self._at += 1
        return text
