"""Record a consumer's contract from its own tests (pattern 12).

`RpcRecorder` is a client interceptor for the consumer's channel: it notes the method,
the request fields the consumer set and the status it got, and hands the consumer a
reply that notes every field the consumer reads. `EventRecorder` delivers events to the
consumer's real handler the same way. `settle()` compares what was recorded with the
committed file and fails when the file is stale; with PROTOMESH_RECORD_CONTRACTS=1
(`make contracts`) it writes the file instead.
"""

from __future__ import annotations

import difflib
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from protomesh.bus.consumer import Rejected
from protomesh.bus.decoding import DecodedEvent
from protomesh_toolkit.contracts.consumers.model import (
    CONTRACTS_DIR,
    Contract,
    EventExample,
    EventUse,
    FieldUse,
    RpcExample,
    RpcUse,
)
from protomesh_toolkit.contracts.consumers.schema import field_type

RECORD_VARIABLE = "PROTOMESH_RECORD_CONTRACTS"


def field_use(root: Descriptor, path: str) -> FieldUse:
    numbers: list[int] = []
    current: Descriptor | None = root
    found = None
    for name in path.split("."):
        assert current is not None, f"{path} goes through a scalar"
        found = current.fields_by_name[name]
        numbers.append(found.number)
        current = found.message_type
    assert found is not None
    return FieldUse(path, tuple(numbers), field_type(found))


def fields_set(message: Message, prefix: str = "") -> set[str]:
    """The paths of the fields the consumer filled in, down into nested messages."""
    paths: set[str] = set()
    for descriptor, value in message.ListFields():
        path = prefix + descriptor.name
        paths.add(path)
        if descriptor.message_type is not None and not field_type(descriptor).startswith(
            "repeated"
        ):
            paths |= fields_set(value, f"{path}.")
    return paths


def _descriptor(message: Message) -> Descriptor:
    # The upb runtime's descriptors are typed apart from the pure-Python ones; same API.
    return cast(Descriptor, message.DESCRIPTOR)


class ReadTracker:
    """Stands in for a message and notes each field read; `isinstance` still sees the message."""

    def __init__(self, message: Message, reads: set[str], prefix: str = "") -> None:
        object.__setattr__(self, "_message", message)
        object.__setattr__(self, "_reads", reads)
        object.__setattr__(self, "_prefix", prefix)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._message)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._message, name)
        field = self._message.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            return value
        path = self._prefix + name
        self._reads.add(path)
        if isinstance(value, Message):
            return ReadTracker(value, self._reads, f"{path}.")
        return value

    def HasField(self, name: str) -> bool:
        self._reads.add(self._prefix + name)
        return bool(self._message.HasField(name))


@dataclass
class _Rpc:
    request_type: Descriptor
    reply_type: Descriptor | None = None
    sets: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    examples: list[RpcExample] = field(default_factory=list)


def _with_placeholders(value: Any, values: dict[str, str]) -> Any:
    names = {text: name for name, text in values.items()}
    if isinstance(value, str) and value in names:
        return f"${{{names[value]}}}"
    if isinstance(value, dict):
        return {key: _with_placeholders(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(item, values) for item in value]
    return value


class RpcRecorder(grpc.aio.UnaryUnaryClientInterceptor):
    """Put on the consumer's channel; call `expect()` before each interaction."""

    def __init__(self) -> None:
        self._rpcs: dict[str, _Rpc] = {}
        self._next: tuple[str, str | None, dict[str, str]] | None = None

    def expect(self, name: str, given: str | None = None, **values: str) -> None:
        """Name the next interaction; `values` came from the provider state `given`."""
        self._next = (name, given, values)

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        assert self._next is not None, "call recorder.expect(...) before each interaction"
        name, given, values = self._next
        self._next = None
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        rpc = self._rpcs.setdefault(method.lstrip("/"), _Rpc(_descriptor(request)))
        rpc.sets |= fields_set(request)
        body = json_format.MessageToDict(request, preserving_proto_field_name=True)
        call = await continuation(details, request)
        try:
            reply = await call
        except grpc.aio.AioRpcError as error:
            rpc.examples.append(
                RpcExample(name, _with_placeholders(body, values), error.code().name, given)
            )
            raise
        rpc.reply_type = _descriptor(reply)
        rpc.examples.append(RpcExample(name, _with_placeholders(body, values), "OK", given))
        return ReadTracker(reply, rpc.reads)

    def contract(self, consumer: str, provider: str, recorded_by: str) -> Contract:
        uses = []
        for method, rpc in sorted(self._rpcs.items()):
            reply_type = rpc.reply_type
            uses.append(
                RpcUse(
                    method=method,
                    sets=tuple(sorted(field_use(rpc.request_type, path) for path in rpc.sets)),
                    reads=tuple(sorted(field_use(reply_type, path) for path in rpc.reads))
                    if reply_type is not None
                    else (),
                    examples=tuple(rpc.examples),
                )
            )
        return Contract(consumer, provider, recorded_by, rpcs=tuple(uses))


@dataclass
class _Event:
    descriptor: Descriptor
    reads: set[str] = field(default_factory=set)
    examples: list[EventExample] = field(default_factory=list)


class EventRecorder:
    """Delivers events to the consumer's real handler and notes what it reads."""

    def __init__(self, handler: Callable[[DecodedEvent], Awaitable[None]]) -> None:
        self._handler = handler
        self._events: dict[str, _Event] = {}

    async def deliver(self, message: Message, *, name: str, effect: str, subject: str) -> str:
        """Hand `message` to the handler; returns "handled" or "rejected"."""
        event = self._events.setdefault(message.DESCRIPTOR.full_name, _Event(_descriptor(message)))
        decoded = DecodedEvent(
            id=secrets.token_hex(8),
            type=message.DESCRIPTOR.full_name,
            schema_version="1",
            subject=subject,
            message=ReadTracker(message, event.reads),  # type: ignore[arg-type]
        )
        try:
            await self._handler(decoded)
            outcome = "handled"
        except Rejected:
            outcome = "rejected"
        body = json_format.MessageToDict(message, preserving_proto_field_name=True)
        event.examples.append(EventExample(name, body, outcome, effect))
        return outcome

    def contract(self, consumer: str, provider: str, recorded_by: str) -> Contract:
        uses = tuple(
            EventUse(
                event=name,
                reads=tuple(sorted(field_use(event.descriptor, path) for path in event.reads)),
                examples=tuple(event.examples),
            )
            for name, event in sorted(self._events.items())
        )
        return Contract(consumer, provider, recorded_by, events=uses)


def settle(contract: Contract, directory: Path = CONTRACTS_DIR) -> None:
    """Write the contract (recording) or fail when the committed one differs from it."""
    path = directory / contract.file_name()
    recorded = contract.to_json()
    if os.environ.get(RECORD_VARIABLE) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(recorded)
        return
    committed = path.read_text() if path.exists() else ""
    if committed != recorded:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                recorded.splitlines(keepends=True),
                f"committed {path.name}",
                "recorded now",
            )
        )
        raise AssertionError(
            f"contracts/{contract.file_name()} is stale: the consumer's tests now record"
            f" something else. Run `make contracts` and commit the file.\n{diff}"
        )
