"""Every call has a deadline, and it travels with the call.

A call that arrives already past its deadline is refused before any work. A
call without one gets the service's default budget, so nothing can run
forever. The remaining time is stored in the request context, and outbound
clients use `request_context.time_remaining()` as their timeout so the
deadline propagates to the next hop. The call frame
(`protomesh.interceptors.call_frame`) applies the budget around everything
inside it, errors included.
"""

from __future__ import annotations

from typing import Any

import grpc


def budget_for(context: grpc.aio.ServicerContext[Any, Any], default_timeout: float) -> float:
    """Seconds this call may take: the caller's deadline, capped by the service's default."""
    remaining = context.time_remaining()
    return default_timeout if remaining is None else min(remaining, default_timeout)


async def refuse_expired(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(
        grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before the call started"
    )


async def refuse_overrun(
    context: grpc.aio.ServicerContext[Any, Any], method: str, budget: float
) -> None:
    await context.abort(
        grpc.StatusCode.DEADLINE_EXCEEDED, f"{method} did not finish within {budget:.3f}s"
    )
