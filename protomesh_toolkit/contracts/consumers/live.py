"""Live verification: replay a consumer's examples against the running provider.

RPCs: each example's request goes to the real provider (as the consumer's identity, over
the consumer's kind of channel); the status must be the one the consumer expects, and on
success every field the consumer reads must be filled. Events: the provider's suite makes
the running provider emit each event type (for instance by calling the RPC that emits it)
and hands over what it emitted; every field the consumer reads must be filled there.
These catch what no descriptor shows: an error code that changed, a field left empty.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from protomesh_toolkit.contracts.consumers.model import Contract, FieldUse, RpcExample, RpcUse
from protomesh_toolkit.contracts.consumers.problems import Broken
from protomesh_toolkit.contracts.consumers.schema import ProviderSchema, field_type

# A provider state: sets the provider up (a user that exists) and returns the values the
# example's request refers to as `${name}`.
ProviderState = Callable[[], Awaitable[dict[str, str]]]
_PLACEHOLDER = re.compile(r"^\$\{(\w+)\}$")


def missing(message: Message, use: FieldUse) -> str | None:
    """Why `use` is not filled in `message` (a field left at its default), or None."""
    current = message
    names = use.path.split(".")
    for depth, name in enumerate(names):
        here = ".".join(names[: depth + 1])
        # The upb runtime's descriptors are typed apart from the pure-Python ones; same API.
        field = cast("FieldDescriptor | None", current.DESCRIPTOR.fields_by_name.get(name))
        if field is None:
            return f"{here} is not in the reply's type {current.DESCRIPTOR.full_name}"
        if depth == len(names) - 1 and field_type(field) != use.type:
            return f"{here} is {field_type(field)}, not {use.type}"
        value = getattr(current, name)
        if field_type(field).startswith("repeated"):
            return None if len(value) else f"{here} is empty"
        if field.message_type is not None:
            if not current.HasField(name):
                return f"{here} is not set"
            current = value
            continue
        if value == field.default_value:
            return f"{here} is left at its default ({value!r})"
    return None


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str) and (placeholder := _PLACEHOLDER.match(value)):
        return values[placeholder.group(1)]
    if isinstance(value, dict):
        return {key: _substitute(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    return value


async def _replay_one(
    contract: Contract,
    *,
    rpc: RpcUse,
    example: RpcExample,
    channel: grpc.aio.Channel,
    schema: ProviderSchema,
    states: Mapping[str, ProviderState],
) -> list[Broken]:
    subject = f"{rpc.method} ({example.name})"

    def broken(reason: str) -> list[Broken]:
        return [Broken(contract.consumer, contract.provider, subject, reason)]

    method = schema.method(rpc.method)
    if method is None:
        return broken("the provider publishes no such method")
    values: dict[str, str] = {}
    if example.given is not None:
        if example.given not in states:
            return broken(f"the provider's suite cannot set up the state {example.given!r}")
        values = await states[example.given]()
    request = schema.new_message(method.input_type)
    try:
        json_format.ParseDict(_substitute(example.request, values), request)
    except json_format.ParseError as error:
        return broken(f"the request no longer fits {method.input_type.full_name}: {error}")
    reply_type = schema.new_message(method.output_type)
    call: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
        f"/{rpc.method}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=type(reply_type).FromString,
    )
    try:
        reply: Message = await call(request, timeout=10)
        status = "OK"
    except grpc.aio.AioRpcError as error:
        status = error.code().name
    if status != example.status:
        return broken(f"expected {example.status}, got {status}")
    if status != "OK":
        return []
    return [
        Broken(contract.consumer, contract.provider, f"{subject} response {use.path}", reason)
        for use in rpc.reads
        if (reason := missing(reply, use)) is not None
    ]


async def replay_rpcs(
    contract: Contract,
    channel: grpc.aio.Channel,
    schema: ProviderSchema,
    states: Mapping[str, ProviderState],
) -> list[Broken]:
    found: list[Broken] = []
    for rpc in contract.rpcs:
        for example in rpc.examples:
            found += await _replay_one(
                contract, rpc=rpc, example=example, channel=channel, schema=schema, states=states
            )
    return found


def verify_emitted(
    contract: Contract, event: str, emitted_type: str, payload: bytes, schema: ProviderSchema
) -> list[Broken]:
    """Check one event the running provider emitted when asked for `event`."""
    if emitted_type != event:
        return [
            Broken(
                contract.consumer,
                contract.provider,
                event,
                f"the provider emitted {emitted_type} instead",
            )
        ]
    descriptor = schema.message(event)
    if descriptor is None:
        return [Broken(contract.consumer, contract.provider, event, "the event type is gone")]
    message = schema.new_message(descriptor)
    message.ParseFromString(payload)
    uses = next(use.reads for use in contract.events if use.event == event)
    return [
        Broken(contract.consumer, contract.provider, f"{event} field {use.path}", reason)
        for use in uses
        if (reason := missing(message, use)) is not None
    ]
