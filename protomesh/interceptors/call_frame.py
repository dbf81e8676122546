"""The call frame: request id, access log, deadline and errors in one interceptor.

These four wrap every call of every service, in this order, and each was its
own interceptor: four wrapped handlers, eight coroutine frames and four
try-blocks per call. Profiled under load they cost more than the handler's
own Python (docs/performance.md), so they run here in one frame, while each
concern keeps its rules in its own module as plain functions:

1. request id (`request_id`): set first, so every log line after it carries it;
2. access log (`access_log`): times the call and sees its final status;
3. deadline (`deadline`): bounds all the work below, errors included;
4. errors (`errors`): domain errors from authorization, validation or handlers
   become statuses with details; anything unexpected becomes INTERNAL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import request_context
from protomesh.interceptors import access_log, deadline
from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.interceptors.errors import refuse_with_status
from protomesh.interceptors.request_id import incoming_request_id


class CallFrameInterceptor(UnaryInterceptor):
    def __init__(self, domain: str, default_timeout: float) -> None:
        super().__init__()
        self.domain = domain
        self.default_timeout = default_timeout

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        request_context.request_id.set(incoming_request_id(context.invocation_metadata()))
        request_context.rpc_method.set(method)
        level = access_log.level_for(method)
        if not access_log.log.isEnabledFor(level):
            return await self._bounded(method, request, context, call_next)
        started = time.perf_counter()
        outcome = "OK"
        try:
            return await self._bounded(method, request, context, call_next)
        except BaseException as error:
            outcome = access_log.outcome_of(error, context)
            raise
        finally:
            access_log.write(level, method, outcome, started, context)

    async def _bounded(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        budget = deadline.budget_for(context, self.default_timeout)
        if budget <= 0:
            await deadline.refuse_expired(context)
        request_context.set_deadline(budget)
        try:
            async with asyncio.timeout(budget):
                try:
                    return await call_next(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as error:
                    await refuse_with_status(error, context, domain=self.domain, method=method)
        except TimeoutError:
            await deadline.refuse_overrun(context, method, budget)
        raise AssertionError("unreachable: abort raises")
