"""asyncpg query spans from opentelemetry-instrumentation-asyncpg, only inside sampled traces.

The stock instrumentor builds every query's attributes (a regex over the
SQL, the connection's address) before it asks the sampler, so a dropped
trace still pays for them, and a query outside any request (the readiness
probe's `SELECT 1` every second) would start a trace of its own. This
subclass goes straight to the query unless the current span is recording:
queries appear in the traces that are kept, as children of the RPC or
consumer span that ran them, and cost one context lookup otherwise. The
pool's own reset query, sent on every release, is not traced either: it is
the same four statements every time and says nothing about the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider

Wrapped = Callable[..., Awaitable[Any]]


class SampledQueryInstrumentor(AsyncPGInstrumentor):  # type: ignore[misc]
    async def _do_execute(
        self, func: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # asyncpg keeps the reset query it sends on release in `_reset_query`.
        resetting = bool(args) and args[0] is getattr(instance, "_reset_query", None)
        if resetting or not trace.get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_execute(func, instance, args, kwargs)

    async def _do_cursor_execute(
        self, func: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not trace.get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_cursor_execute(func, instance, args, kwargs)

    async def _do_prepared_execute(
        self, func: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not trace.get_current_span().is_recording():
            return await func(*args, **kwargs)
        return await super()._do_prepared_execute(func, instance, args, kwargs)


def instrument_asyncpg(provider: TracerProvider) -> None:
    """Patch asyncpg's query methods (process-wide, once; later calls do nothing)."""
    instrumentor = SampledQueryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
