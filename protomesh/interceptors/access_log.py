"""One log line per call: method, status code, duration, peer, and the caller's identity.

The call frame (`protomesh.interceptors.call_frame`) writes it just after the
request id is set, so the line carries the id, and around the error handling,
so it sees the final status code. Health checks (Envoy and balancers probe
every second or two) log at DEBUG so they do not drown the calls that matter.
When the level filters a line out the frame skips timing the call too, and the
line (its extra fields, its peer string) is built only when it is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from protomesh import request_context

log = logging.getLogger("protomesh.access")
_HEALTH_PREFIX = "/grpc.health.v1.Health/"


def level_for(method: str) -> int:
    return logging.DEBUG if method.startswith(_HEALTH_PREFIX) else logging.INFO


def outcome_of(error: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The status name a failed call ends with (the error frame set it on `context`)."""
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


def write(
    level: int,
    method: str,
    outcome: str,
    started: float,
    context: grpc.aio.ServicerContext[Any, Any],
) -> None:
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
