"""A base for interceptors that wrap unary-unary calls.

`grpc.aio.ServerInterceptor` sees only the method name, not the request or
the context; to act on them an interceptor must wrap the handler it gets back.
This base does that once per method (handlers are cached), so the per-call
cost is two coroutine frames per interceptor (its wrapper and `intercept`). Streaming methods (e.g.
grpc.health.v1.Health/Watch) pass through untouched: our APIs are unary.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

Behavior = Callable[[Message, grpc.aio.ServicerContext[Any, Any]], Awaitable[Message]]
if TYPE_CHECKING:
    # Generic only in the type stubs; grpc's runtime class is not subscriptable.
    Handler = grpc.RpcMethodHandler[Any, Any]


class UnaryInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    @abc.abstractmethod
    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        """Run around one call; `method` is the full path `/pkg.Service/Method`."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Handler) -> Handler:
        inner: Any = handler.unary_unary
        call_next: Behavior
        if inspect.iscoroutinefunction(inner):
            # The usual case (async servicers, and every interceptor's own
            # wrapper): the next layer is called directly, no frame in between.
            call_next = inner
        else:

            async def call_next(
                request: Message, context: grpc.aio.ServicerContext[Any, Any]
            ) -> Message:
                result = inner(request, context)
                if inspect.isawaitable(result):
                    result = await result
                return result  # type: ignore[no-any-return]

        intercept = self.intercept

        async def behavior(
            request: Message, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Message:
            return await intercept(method, request, context, call_next)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
