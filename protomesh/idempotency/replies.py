"""Idempotency at the transport edge: the wire form of a reply goes in, a stored one comes out.

A servicer hands its use case a unit of work built for the call's key (or
for no key), and gets back either the domain result, which it maps to its
response, or `AlreadyAnswered`, whose bytes are the first call's response:

    return await answer_once(
        context, request, _placed, v1.PlaceOrderResponse,
        lambda reply: handlers.place_order(command, uow=self._units(reply), ...),
    )

Serializing here keeps protobuf out of the use cases while the reply still
commits in the use case's own transaction (the unit of work records it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from protomesh.idempotency.calls import AlreadyAnswered, IdempotentReply
from protomesh.idempotency.metadata import idempotent_call

Result = TypeVar("Result")
Response = TypeVar("Response", bound=Message)


def idempotent_reply(
    context: grpc.aio.ServicerContext[Any, Any],
    request: Message,
    respond: Callable[[Result], Message],
) -> IdempotentReply[Result] | None:
    """The call's key and how to serialize its reply; None when it brought no key."""
    call = idempotent_call(context, request)
    if call is None:
        return None
    return IdempotentReply(call, lambda result: respond(result).SerializeToString())


async def answer_once(
    context: grpc.aio.ServicerContext[Any, Any],
    request: Message,
    respond: Callable[[Result], Response],
    kind: type[Response],
    use_case: Callable[[IdempotentReply[Result] | None], Awaitable[Result]],
) -> Response:
    """Run a mutating use case once per idempotency key; a repeat gets the first reply."""
    try:
        result = await use_case(idempotent_reply(context, request, respond))
    except AlreadyAnswered as answered:
        return kind.FromString(answered.response)
    return respond(result)
