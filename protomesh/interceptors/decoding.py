"""A request that cannot be decoded is INVALID_ARGUMENT naming the field, for every RPC.

grpc.aio decodes a request with the handler's `request_deserializer` before
any interceptor's behaviour runs; when that raises (bad UTF-8 in a string,
corrupt wire format), grpc answers UNKNOWN with the exception's class in the
message. This interceptor swaps every handler's deserializer for one that
never raises into grpc: a unary request that cannot be decoded becomes an
`Undecodable` placeholder, which the behaviour turns into INVALID_ARGUMENT
with a BadRequest naming the field (protomesh.undecodable) before anything
else sees it. For streamed requests the message arrives inside the
servicer's loop, so the error is raised there and caught around it.

Outer interceptors build their handlers from this one's deserializer, so one
place covers every service, health and reflection included.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError

from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.interceptors.errors import to_status
from protomesh.undecodable import violation

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
Context = grpc.aio.ServicerContext[Any, Any]
_CANNOT_DECODE = "the request cannot be decoded"


@dataclass(frozen=True)
class Undecodable:
    """What a unary handler receives instead of a request it could not decode."""

    error: InvalidArgument


def undecodable(deserializer: Callable[[bytes], Any], data: bytes) -> InvalidArgument:
    """The caller's error: which field, when the deserializer's message type says."""
    descriptor: Descriptor | None = getattr(
        getattr(deserializer, "__self__", None), "DESCRIPTOR", None
    )
    if descriptor is None:
        return InvalidArgument([FieldViolation("", "cannot be decoded")], _CANNOT_DECODE)
    found = violation(descriptor, data)
    where = f"field {found.field!r}" if found.field else "the request"
    return InvalidArgument([found], f"{where} {found.description}")


class DecodingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Handler) -> Handler:
        deserialize = handler.request_deserializer
        assert deserialize is not None  # intercept_service passes those without one through
        options = {
            "request_deserializer": None,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None or handler.unary_stream is not None:

            def placeholder(data: bytes) -> Any:
                try:
                    return deserialize(data)
                except DecodeError:
                    return Undecodable(undecodable(deserialize, data))

            options["request_deserializer"] = placeholder
            if handler.unary_unary is not None:
                return grpc.unary_unary_rpc_method_handler(
                    self._refusing(handler.unary_unary), **options
                )
            return grpc.unary_stream_rpc_method_handler(
                self._refusing(handler.unary_stream), **options
            )

        def raising(data: bytes) -> Any:
            try:
                return deserialize(data)
            except DecodeError:
                raise undecodable(deserialize, data) from None

        options["request_deserializer"] = raising
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._catching(handler.stream_unary), **options
            )
        return grpc.stream_stream_rpc_method_handler(
            self._catching(handler.stream_stream), **options
        )

    def _refusing(self, behavior: Any) -> Any:
        """Unary requests: the placeholder is refused before the behaviour sees it."""
        if inspect.isasyncgenfunction(behavior):

            async def stream_out(request: Any, context: Context) -> AsyncIterator[Any]:
                await self._refuse_placeholder(request, context)
                async for reply in behavior(request, context):
                    yield reply

            return stream_out

        async def respond(request: Any, context: Context) -> Any:
            await self._refuse_placeholder(request, context)
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result

        return respond

    def _catching(self, behavior: Any) -> Any:
        """Streamed requests: the error surfaces in the servicer's loop; answer it here."""
        if inspect.isasyncgenfunction(behavior):

            async def stream_out(requests: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    async for reply in behavior(requests, context):
                        yield reply
                except InvalidArgument as error:
                    await context.abort_with_status(to_status(error, self.domain))

            return stream_out

        async def respond(requests: Any, context: Context) -> Any:
            try:
                result = behavior(requests, context)
                return await result if inspect.isawaitable(result) else result
            except InvalidArgument as error:
                await context.abort_with_status(to_status(error, self.domain))

        return respond

    async def _refuse_placeholder(self, request: Any, context: Context) -> None:
        if isinstance(request, Undecodable):
            await context.abort_with_status(to_status(request.error, self.domain))
