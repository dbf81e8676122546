"""While a required dependency is down, answer UNAVAILABLE at once instead of waiting on it.

Readiness (protomesh/readiness.py) already tells load balancers to stop
sending calls when PostgreSQL stops answering; calls that still arrive (the
only replica, a balancer that has not noticed yet, the edge in panic mode)
would otherwise wait on a database that does not answer until their deadline
runs out, and the caller sees a timeout after seconds. Refusing them with
UNAVAILABLE and RetryInfo takes milliseconds and says what to do: retry.
The health service is exempt: it is how the outage is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import errors
from protomesh.interceptors.base import Behavior, UnaryInterceptor

EXEMPT_PREFIX = "/grpc."  # grpc.health.v1, reflection


class ReadinessGate(UnaryInterceptor):
    def __init__(self, failing: Callable[[], Collection[str]], retry_after: float) -> None:
        super().__init__()
        self._failing = failing
        self._retry_after = retry_after

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        down = self._failing()
        if down and not method.startswith(EXEMPT_PREFIX):
            raise errors.Unavailable(
                f"{', '.join(sorted(down))} unavailable; retry", retry_after=self._retry_after
            )
        return await call_next(request, context)
