"""Request bytes for every RPC, generated from the descriptor set (envoy/protomesh.binpb).

Two kinds, so the parser and the handlers both get hit:

- well-formed messages whose fields sit at the limits: huge strings, int64
  min/max, negative numbers, enum numbers no contract names, out-of-range
  timestamps, long repeated fields;
- wire-level damage to such a message: unknown fields, truncation, garbage
  bytes, invalid UTF-8 in a string field, unknown fields nested far deeper
  than any parser's recursion limit.

Everything comes from the descriptors, so a new field or RPC is fuzzed
without a line here changing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

# upb's descriptor classes and the pure-Python ones differ in the type stubs.
Descriptor = Any
Field = Any
MAX_DEPTH = 3  # nesting of generated (well-formed) messages
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
# Sizes that cross the limits a service might have (column widths, the edge's
# 64 KiB body, gRPC's 4 MiB message) without being refused by gRPC itself.
HUGE_LENGTHS = (256, 4_097, 65_537, 1_000_000)
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_INTEGER_RANGES = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT32: UINT32,
    FieldDescriptor.TYPE_FIXED32: UINT32,
    FieldDescriptor.TYPE_UINT64: UINT64,
    FieldDescriptor.TYPE_FIXED64: UINT64,
}


@dataclass(frozen=True)
class Rpc:
    path: str  # /pkg.Service/Method, as gRPC names it
    request: type[Message]


def load_pool(descriptor_set: Path) -> descriptor_pool.DescriptorPool:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


def rpcs_of(pool: descriptor_pool.DescriptorPool, service: str) -> list[Rpc]:
    """Every RPC of a proto service (unary or not: a stream gets the same first message)."""
    found = pool.FindServiceByName(service)
    return [_rpc(service, method) for method in found.methods]


def _rpc(service: str, method: Any) -> Rpc:
    return Rpc(f"/{service}/{method.name}", message_factory.GetMessageClass(method.input_type))


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = {low, high, 0, 1, *([-1] if low < 0 else [])}
    return st.sampled_from(sorted(edges)) | st.integers(low, high)


def strings(*, huge: bool = True) -> st.SearchStrategy[str]:
    odd = st.sampled_from(["", " ", "\x00", "\u202e", "😀" * 3, "../../etc/passwd", "%00", "{{x}}"])
    # Values that pass a field's validation, so some messages reach the handlers.
    plausible = st.uuids().map(str) | st.emails() | st.sampled_from(["EUR", "USD", "LAMP"])
    if not huge:
        return TEXT | odd | plausible
    long = st.sampled_from(HUGE_LENGTHS).flatmap(
        lambda n: st.sampled_from("aé\u202e0 ").map(lambda c: c * n)
    )
    return TEXT | long | odd | plausible


def scalars(field: Field, *, huge: bool = True) -> st.SearchStrategy[Any]:
    """Values for a field; `huge` lets strings and bytes be up to a megabyte long."""
    kind = field.type
    if kind in _INTEGER_RANGES:
        return integers(*_INTEGER_RANGES[kind])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        extremes = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0])
        return extremes | st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_STRING:
        return strings(huge=huge)
    if kind == FieldDescriptor.TYPE_BYTES:
        small = st.binary(max_size=64)
        return small | st.sampled_from(HUGE_LENGTHS).map(lambda n: b"\xff" * n) if huge else small
    if kind == FieldDescriptor.TYPE_ENUM:
        named = [value.number for value in field.enum_type.values]
        return st.sampled_from(named) | integers(*INT32)
    raise ValueError(f"{field.full_name}: no strategy for field type {kind}")


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Well-formed messages of `descriptor` with every field possibly at a limit."""
    cls = message_factory.GetMessageClass(descriptor)
    fields = list(descriptor.fields)

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Message:
        message = cls()
        for field in fields:
            if not draw(st.booleans()):
                continue
            _set(message, field, draw, depth)
        return message

    return build()


def _set(
    message: Message,
    field: Field,
    draw: Callable[[st.SearchStrategy[Any]], Any],
    depth: int,
) -> None:
    is_message = field.type == FieldDescriptor.TYPE_MESSAGE
    if is_message and depth >= MAX_DEPTH:
        return
    if is_message and field.message_type.GetOptions().map_entry:
        key, value = (
            field.message_type.fields_by_name["key"],
            field.message_type.fields_by_name["value"],
        )
        target = getattr(message, field.name)
        for _ in range(draw(st.integers(0, 3))):
            entry_key = draw(scalars(key, huge=False))
            if value.type == FieldDescriptor.TYPE_MESSAGE:
                target[entry_key].CopyFrom(draw(messages(value.message_type, depth + 1)))
            else:
                target[entry_key] = draw(scalars(value, huge=False))
        return
    # Megabyte values only in top-level singular fields, a thousand items only
    # in top-level repeated ones: a thousand of a thousand, or a megabyte in
    # each, make messages of gigabytes (refused by gRPC before any service
    # sees them, after minutes of generating them).
    nested = messages(field.message_type, depth + 1) if is_message else None
    if field.is_repeated:
        item = nested if nested is not None else scalars(field, huge=False)
        lengths = st.lists(item, max_size=4)
        if depth == 0:
            lengths |= item.map(lambda value: [value] * 1_000)
        getattr(message, field.name).extend(draw(lengths))
    elif nested is not None:
        getattr(message, field.name).CopyFrom(draw(nested))
    else:
        setattr(message, field.name, draw(scalars(field, huge=depth == 0)))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def unknown_fields() -> st.SearchStrategy[bytes]:
    """Fields no contract has: a high number, any wire type."""
    number = st.integers(1_000, 2**29 - 1)
    return st.one_of(
        st.tuples(number, integers(*UINT64)).map(lambda t: tag(t[0], 0) + varint(t[1])),
        st.tuples(number, st.binary(max_size=32)).map(lambda t: length_delimited(*t)),
        st.tuples(number, st.binary(min_size=8, max_size=8)).map(lambda t: tag(t[0], 1) + t[1]),
        st.tuples(number, st.binary(min_size=4, max_size=4)).map(lambda t: tag(t[0], 5) + t[1]),
    )


def deeply_nested(depth: int) -> bytes:
    """An unknown field holding itself `depth` times: past any parser's recursion limit."""
    payload = b""
    for _ in range(depth):
        payload = length_delimited(9_999, payload)
    return payload


def invalid_utf8(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """A string field (or any field number, when there is none) holding bytes that are not UTF-8."""
    numbers = [f.number for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    chosen = st.sampled_from(numbers) if numbers else st.integers(1, 20)
    bad = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\x80b"])
    return st.tuples(chosen, bad).map(lambda t: length_delimited(*t))


def request_bytes(rpc: Rpc) -> st.SearchStrategy[tuple[str, bytes]]:
    """(what kind of damage, the bytes) for one call of `rpc`."""
    descriptor = rpc.request.DESCRIPTOR
    well_formed = messages(descriptor).map(lambda m: m.SerializeToString())
    return st.one_of(
        well_formed.map(lambda b: ("limits", b)),
        st.tuples(well_formed, st.lists(unknown_fields(), min_size=1, max_size=3)).map(
            lambda t: ("unknown fields", t[0] + b"".join(t[1]))
        ),
        well_formed.filter(lambda b: len(b) > 1).flatmap(
            lambda b: st.integers(1, len(b) - 1).map(lambda k: ("truncated", b[:k]))
        ),
        st.binary(min_size=1, max_size=256).map(lambda b: ("garbage", b)),
        st.sampled_from([101, 1_000, 20_000]).map(lambda d: ("deep nesting", deeply_nested(d))),
        invalid_utf8(descriptor).map(lambda b: ("invalid utf-8", b)),
    )
