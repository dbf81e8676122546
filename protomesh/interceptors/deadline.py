"""Every call has a deadline, and it travels with the call.

A call that arrives already past its deadline is refused before any work. A
call without one gets the service's default budget, so nothing can run
forever. The remaining time is stored in the request context, and outbound
clients use `request_context.time_remaining()` as their timeout so the
deadline propagates to the next hop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import request_context
from protomesh.interceptors.base import Behavior, UnaryInterceptor


class DeadlineInterceptor(UnaryInterceptor):
    def __init__(self, default_timeout: float) -> None:
        super().__init__()
        self.default_timeout = default_timeout

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        remaining = context.time_remaining()
        budget = self.default_timeout if remaining is None else min(remaining, self.default_timeout)
        if budget <= 0:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before the call started"
            )
        request_context.set_deadline(budget)
        try:
            async with asyncio.timeout(budget):
                return await call_next(request, context)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"{method} did not finish within {budget:.3f}s"
            )
            raise  # abort raises; this line only satisfies the type checker
