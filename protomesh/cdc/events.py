"""Turn a decoded row change into the typed protobuf event of its table.

Each watched table names its change message in mesh.yaml (for `orders`:
`shop.order.changes.v1.OrderChanged`). The message must have the fields the
worker fills — `operation` (an enum with OPERATION_INSERT/UPDATE/DELETE/
SNAPSHOT), `key`, `before` and `after` (one row message), `commit_lsn`,
`index`, `commit_time`, `transaction_id` — and is checked for them at start.
The *watched columns* are the row message's fields: a column is published
when a field of the same name exists, converted from PostgreSQL's text form
to the field's type. A new column stays private until the contract grows a
field for it; a field with no column stays unset.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from protomesh.bus.publisher import OutgoingEvent
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.pgoutput import UNCHANGED, Row

OPERATIONS = {
    "insert": "OPERATION_INSERT",
    "update": "OPERATION_UPDATE",
    "delete": "OPERATION_DELETE",
    "snapshot": "OPERATION_SNAPSHOT",
}
_ENVELOPE = {
    "operation": FieldDescriptor.CPPTYPE_ENUM,
    "key": FieldDescriptor.CPPTYPE_STRING,
    "before": FieldDescriptor.CPPTYPE_MESSAGE,
    "after": FieldDescriptor.CPPTYPE_MESSAGE,
    "commit_lsn": FieldDescriptor.CPPTYPE_UINT64,
    "index": FieldDescriptor.CPPTYPE_UINT32,
    "commit_time": FieldDescriptor.CPPTYPE_MESSAGE,
    "transaction_id": FieldDescriptor.CPPTYPE_UINT32,
}
_INTEGERS = {
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
}
_TIMESTAMP = "google.protobuf.Timestamp"
SCHEMA_VERSION = 1


def message_class(full_name: str) -> type[Message]:
    """The generated class of a proto message, importing its package's `_pb2` modules."""
    package = full_name.rpartition(".")[0]
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ValueError(f"{full_name}: no generated package {package} ({error})") from None
    for info in pkgutil.iter_modules(getattr(module, "__path__", []), package + "."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        raise ValueError(f"{full_name}: no such message in {package}") from None
    return message_factory.GetMessageClass(descriptor)


@dataclass(frozen=True)
class Position:
    """Where a change sits in the WAL, and when its transaction committed."""

    commit_lsn: int
    index: int
    commit_time: datetime
    xid: int


class TableEvents:
    """Builds the events of one watched table."""

    def __init__(
        self, names: CaptureNames, table: str, full_name: str, key: tuple[str, ...]
    ) -> None:
        self.table = table
        self._names = names
        self._class = message_class(full_name)
        self._type = full_name
        self._key = key
        descriptor: Any = self._class.DESCRIPTOR
        self._row = _check_envelope(descriptor)
        operation = descriptor.fields_by_name["operation"].enum_type
        missing = [name for name in OPERATIONS.values() if name not in operation.values_by_name]
        if missing:
            raise ValueError(f"{full_name}.operation: the enum lacks {', '.join(missing)}")
        self._operations = {
            op: operation.values_by_name[name].number for op, name in OPERATIONS.items()
        }

    @property
    def key_columns(self) -> tuple[str, ...]:
        return self._key

    @property
    def columns(self) -> tuple[str, ...]:
        """The watched columns: the row message's field names."""
        return tuple(field.name for field in self._row.fields)

    def event(
        self, operation: str, old: Row | None, new: Row | None, at: Position
    ) -> OutgoingEvent:
        if new is not None and old is not None:
            # An unchanged TOASTed value is not resent; the full old row has it.
            new = {c: old.get(c) if v is UNCHANGED else v for c, v in new.items()}
        message = self._class()
        message.operation = self._operations[operation]  # type: ignore[attr-defined]
        key_row = new if new is not None else old
        assert key_row is not None
        key = ",".join(str(key_row.get(column) or "") for column in self._key)
        message.key = key  # type: ignore[attr-defined]
        if old is not None:
            _fill(message.before, old)  # type: ignore[attr-defined]
        if new is not None:
            _fill(message.after, new)  # type: ignore[attr-defined]
        message.commit_lsn = at.commit_lsn  # type: ignore[attr-defined]
        message.index = at.index  # type: ignore[attr-defined]
        message.commit_time.FromDatetime(at.commit_time)  # type: ignore[attr-defined]
        message.transaction_id = at.xid  # type: ignore[attr-defined]
        return OutgoingEvent(
            event_id=self._event_id(operation, at),
            event_type=self._type,
            schema_version=SCHEMA_VERSION,
            subject=self._names.subject(self.table),
            payload=message.SerializeToString(),
            occurred_at=at.commit_time,
            source=f"/{self._names.context}/changes",
            aggregate_type=self.table,
            aggregate_id=key,
            sequence=at.index,
        )

    def _event_id(self, operation: str, at: Position) -> str:
        if operation == "snapshot":
            return f"{self._names.slot}:snapshot:{at.commit_lsn:X}:{self.table}:{at.index}"
        return self._names.message_id(at.commit_lsn, at.index)


def snapshot_row(text: str) -> Row:
    """A row read as `to_jsonb(t)` in the text form pgoutput would have sent."""
    values = json.loads(text)
    row: Row = {}
    for column, value in values.items():
        if value is None or isinstance(value, str):
            row[column] = value
        elif isinstance(value, bool):
            row[column] = "t" if value else "f"
        elif isinstance(value, int | float):
            row[column] = str(value)
        else:  # json/jsonb: PostgreSQL's own jsonb text uses these separators
            row[column] = json.dumps(value)
    return row


def _check_envelope(descriptor: Any) -> Any:
    """The fields the worker fills must exist with the right types; returns the row message."""
    problems = []
    for name, cpp_type in _ENVELOPE.items():
        field = descriptor.fields_by_name.get(name)
        if field is None or field.cpp_type != cpp_type:
            problems.append(name)
    if problems:
        raise ValueError(
            f"{descriptor.full_name} lacks (or mistypes) the change fields {', '.join(problems)}"
        )
    before = descriptor.fields_by_name["before"].message_type
    if descriptor.fields_by_name["after"].message_type is not before:
        raise ValueError(f"{descriptor.full_name}: before and after must be the same row message")
    for field in before.fields:
        supported = field.cpp_type in (
            *_INTEGERS,
            FieldDescriptor.CPPTYPE_STRING,
            FieldDescriptor.CPPTYPE_BOOL,
            FieldDescriptor.CPPTYPE_DOUBLE,
            FieldDescriptor.CPPTYPE_FLOAT,
        ) or (field.message_type is not None and field.message_type.full_name == _TIMESTAMP)
        if not supported or field.is_repeated:
            raise ValueError(
                f"{before.full_name}.{field.name}: a row field is a scalar or a Timestamp"
            )
    return before


def _fill(target: Message, row: Row) -> None:
    for field in target.DESCRIPTOR.fields:
        value = row.get(field.name)
        if value is None or value is UNCHANGED or not isinstance(value, str):
            continue
        if field.message_type is not None:  # a Timestamp (checked at start)
            getattr(target, field.name).FromDatetime(datetime.fromisoformat(value))
        elif field.cpp_type in _INTEGERS:
            setattr(target, field.name, int(value))
        elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
            setattr(target, field.name, value in ("t", "true"))
        elif field.cpp_type in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
            setattr(target, field.name, float(value))
        else:
            setattr(target, field.name, value)
