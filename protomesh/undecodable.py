"""Say which field makes a request's bytes undecodable, in the caller's words.

protobuf's DecodeError says only "String field had bad UTF-8" or "Wire
format was corrupt", with the message type and never the field. Walking the
wire format against the message's descriptor finds the field path
(`items.sku`), so a caller learns what to fix:

    >>> violation(GetUserRequest.DESCRIPTOR, b"\\x0a\\x02\\xff\\xfe")
    FieldViolation(field='user_id', description='is not valid UTF-8')
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from protomesh.errors import FieldViolation

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_CORRUPT = "is not a valid encoding of this field"
_TRUNCATED = "is cut short"


class _Truncated(Exception):
    pass


def violation(descriptor: Descriptor, data: bytes) -> FieldViolation:
    """The first field the bytes break; field "" when no single field is to blame."""
    found = _walk(descriptor, data, "")
    if found is not None:
        return found
    return FieldViolation("", f"is not a valid {descriptor.full_name} message")


def _walk(descriptor: Descriptor, data: bytes, prefix: str) -> FieldViolation | None:
    position = 0
    while position < len(data):
        try:
            key, position = _varint(data, position)
        except _Truncated:
            return None
        number, wire_type = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number)
        path = prefix + field.name if field is not None else ""
        try:
            position, chunk = _skip(data, position, wire_type)
        except _Truncated:
            return FieldViolation(path, _TRUNCATED) if path else None
        except ValueError:
            return FieldViolation(path, _CORRUPT) if path else None
        if field is None or chunk is None:
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return FieldViolation(path, "is not valid UTF-8")
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            inner = _walk(field.message_type, chunk, path + ".")
            if inner is not None:
                return inner
    return None


def _skip(data: bytes, position: int, wire_type: int) -> tuple[int, bytes | None]:
    """Past one field's value; the value's bytes when it is length-delimited."""
    if wire_type == _VARINT:
        return _varint(data, position)[1], None
    if wire_type in (_FIXED64, _FIXED32):
        end = position + (8 if wire_type == _FIXED64 else 4)
        if end > len(data):
            raise _Truncated
        return end, None
    if wire_type == _LENGTH_DELIMITED:
        length, position = _varint(data, position)
        end = position + length
        if end > len(data):
            raise _Truncated
        return end, data[position:end]
    raise ValueError(f"wire type {wire_type}")  # groups (3, 4) and 6, 7: none of ours


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Truncated
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position
