"""Load shedding: past `max_concurrent_calls` in flight, a new call is refused at once.

An overloaded service that queues every call makes every call slow, until
they all time out together. Refusing the excess at once keeps the admitted
calls fast and tells the refused callers to come back shortly: the refusal
is RESOURCE_EXHAUSTED with RetryInfo (and a `retry-after` trailer, so HTTP
429 with Retry-After at the edge), built once and sent as is.

It sits as early in the chain as it can (only the observers, which count
the refusals, come before it) so a shed call costs almost nothing. Health
checks and reflection are never counted nor shed: a busy service is not a
dead one, and balancers must keep seeing it SERVING.

grpc's own `maximum_concurrent_rpcs` would also refuse the excess, but it
counts health checks too and its refusal carries no retry hint.

Counts unary calls only, like every `UnaryInterceptor` (our APIs are unary).
The count is per process: each replica bounds its own calls.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from protomesh import errors
from protomesh.authz import is_open_to_mesh
from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.interceptors.errors import to_status

if TYPE_CHECKING:
    from protomesh.interceptors.base import Handler

log = logging.getLogger("protomesh.shedding")
# Short: a shed call failed for want of a free slot, and slots free up within a call's time.
SHED_RETRY_AFTER = 0.2
_LOG_EVERY = 1.0  # seconds between warnings while shedding, so overload does not flood the log


class LoadShedder(UnaryInterceptor):
    def __init__(self, max_concurrent_calls: int, domain: str) -> None:
        super().__init__()
        self.max_concurrent_calls = max_concurrent_calls
        self.in_flight = 0
        self.shed = 0  # refused since the start, for the warning and for tests
        self._next_warning = 0.0
        refusal = errors.ResourceExhausted(
            f"over {max_concurrent_calls} calls at once; retry shortly",
            retry_after=SHED_RETRY_AFTER,
        )
        self._refusal = to_status(refusal, domain)

    def _wrap(self, method: str, handler: Handler) -> Handler:
        return handler if is_open_to_mesh(method) else super()._wrap(method, handler)

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        if self.in_flight >= self.max_concurrent_calls:
            self._count_shed()
            await context.abort_with_status(self._refusal)
        self.in_flight += 1
        try:
            return await call_next(request, context)
        finally:
            self.in_flight -= 1

    def _count_shed(self) -> None:
        self.shed += 1
        now = time.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + _LOG_EVERY
            log.warning(
                "shedding load: %d calls in flight (max %d), %d refused so far",
                self.in_flight,
                self.max_concurrent_calls,
                self.shed,
            )
