"""A request that does not parse as its message is INVALID_ARGUMENT, not UNKNOWN.

grpc decodes the request bytes before any interceptor sees the call; when
the parser raises (truncated bytes, a string field that is not UTF-8,
garbage), grpc.aio answers UNKNOWN with the exception's class and module in
the message (`Unexpected <class 'google.protobuf.message.DecodeError'>`):
a client cannot tell its own mistake from a server bug, and it learns what
we run. This interceptor hands grpc a deserializer that never raises: an
undecodable request becomes an `Undecodable` value, and the call is refused
here, inside the error interceptor, as a BadRequest with the parser's reason
— found by the descriptor fuzzer (tests/fuzz/test_grpc_fuzz.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError, Message

from protomesh import errors
from protomesh.interceptors.base import Behavior, UnaryInterceptor

if TYPE_CHECKING:
    from protomesh.interceptors.base import Handler

Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class Undecodable:
    """Request bytes the parser refused, and its reason (no exception class, no path)."""

    reason: str


def tolerant(deserializer: Deserializer) -> Deserializer:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as error:
            # "Error parsing message with type 'pkg.Msg': Wire format was corrupt"
            return Undecodable(str(error).rpartition(": ")[2] or "malformed message")

    return deserialize


class RequestDecodingInterceptor(UnaryInterceptor):
    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        if isinstance(request, Undecodable):
            violation = errors.FieldViolation("", f"the request does not parse: {request.reason}")
            raise errors.InvalidArgument([violation], f"malformed request: {request.reason}")
        return await call_next(request, context)

    def _wrap(self, method: str, handler: Handler) -> Handler:
        wrapped = super()._wrap(method, handler)
        behavior = wrapped.unary_unary
        if handler.request_deserializer is None or behavior is None:  # raw bytes: no parsing
            return wrapped
        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
