"""One log line per call: method, status code, duration, peer, and the caller's identity.

It sits just inside the request-id interceptor so the line carries the id, and
outside the error interceptor so it sees the final status code. Health checks
(Envoy and balancers probe every second or two) log at DEBUG so they do not
drown the calls that matter; when the level filters a line out, the logger
skips building it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import request_context
from protomesh.interceptors.base import Behavior, UnaryInterceptor

log = logging.getLogger("protomesh.access")
_HEALTH_PREFIX = "/grpc.health.v1.Health/"


class AccessLogInterceptor(UnaryInterceptor):
    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        level = logging.DEBUG if method.startswith(_HEALTH_PREFIX) else logging.INFO
        if not log.isEnabledFor(level):
            return await call_next(request, context)
        started = time.perf_counter()
        outcome = "OK"
        try:
            return await call_next(request, context)
        except asyncio.CancelledError:
            outcome = "CANCELLED"
            raise
        except BaseException:
            code = context.code()
            outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
            raise
        finally:
            log.log(
                level,
                "rpc %s %s",
                method,
                outcome,
                extra={
                    "rpc_method": method,
                    "grpc_code": outcome,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "peer": context.peer(),
                    # Set by the authorization interceptor inside: who the certificate says.
                    "caller": request_context.caller.get(),
                },
            )
