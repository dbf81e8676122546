"""Per-caller and per-end-user rate limits inside the service (pattern 16, beside the edge's).

The edge limits what the outside world sends; inside, every caller is a
mesh identity and may be the one running away (a retry storm in `order`, a
batch job with the operator's certificate). mesh.yaml's `limits` give each
caller (its SPIFFE name, `request_context.caller`) and each end user the edge
forwarded (`request_context.end_user`) a token bucket of its own; see
`protomesh.registry.limits` for the section and how method lines override it.

It runs after authorization, so the caller is known and a refused caller
spends nobody's budget. Over a bucket the call is RESOURCE_EXHAUSTED with
RetryInfo (when the next token arrives) and QuotaFailure (which bucket, whose),
raised as the runtime's `ResourceExhausted`; the errors interceptor turns it
into a status, and the edge into HTTP 429 with Retry-After.

Methods no bucket covers, health and reflection are not wrapped at all; on a
limited method an admitted call costs a dict lookup and a bucket update.
Unary methods only, like every `UnaryInterceptor` (our APIs are unary).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from protomesh import errors, request_context
from protomesh.authz import is_open_to_mesh
from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.registry import ServiceLimits, TokenBucket
from protomesh.token_buckets import DEFAULT_CAPACITY, TokenBuckets

if TYPE_CHECKING:
    from protomesh.interceptors.base import Handler

SERVICE_SCOPE = "the service"


@dataclass(frozen=True)
class _Limit:
    """One line of `limits` in force: its buckets, and what to tell a caller it refused."""

    kind: str  # "caller" or "end_user", as QuotaFailure subjects name it
    scope: str  # the `methods` key that set it, or SERVICE_SCOPE
    bucket: TokenBucket
    buckets: TokenBuckets

    def refusal(self, subject: str, method: str, wait: float) -> errors.ResourceExhausted:
        limit = self.bucket
        rule = f"{limit.requests} calls per {limit.seconds:g}s, burst {limit.burst}"
        violation = errors.QuotaViolation(
            subject=f"{self.kind}:{subject}", description=f"{rule}, for {self.scope}"
        )
        return errors.ResourceExhausted(
            f"{self.kind.replace('_', ' ')} {subject} is over its limit of {rule} "
            f"on {method}; retry in {wait:.2f}s",
            retry_after=wait,
            violations=(violation,),
        )


class RateLimitInterceptor(UnaryInterceptor):
    def __init__(
        self,
        limits: ServiceLimits,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.limits = limits
        self._capacity = capacity
        self._clock = clock
        self._in_force: dict[tuple[str, str], _Limit] = {}  # (scope, kind): shared by methods
        self._methods: dict[str, tuple[_Limit | None, _Limit | None]] = {}

    @property
    def limits_anything(self) -> bool:
        service = self.limits.service
        return bool(service.per_caller or service.per_end_user or self.limits.methods)

    def _wrap(self, method: str, handler: Handler) -> Handler:
        caller, end_user = self._limit(method, "caller"), self._limit(method, "end_user")
        if caller is None and end_user is None:
            return handler
        self._methods[method] = (caller, end_user)
        return super()._wrap(method, handler)

    def _limit(self, method: str, kind: str) -> _Limit | None:
        """The most specific line that sets `per_<kind>` for `method` (`/pkg.Service/Method`)."""
        if is_open_to_mesh(method):
            return None
        proto_service, _, name = method.lstrip("/").partition("/")
        keys = (f"{proto_service}/{name}", f"{proto_service}/*")
        lines = [(key, self.limits.methods.get(key)) for key in keys]
        for scope, line in [*lines, (SERVICE_SCOPE, self.limits.service)]:
            bucket: TokenBucket | None = getattr(line, f"per_{kind}", None)
            if bucket is None:
                continue
            found = self._in_force.get((scope, kind))
            if found is None:
                rate = bucket.requests / bucket.seconds
                buckets = TokenBuckets(rate, bucket.burst, self._capacity, self._clock)
                found = self._in_force[scope, kind] = _Limit(kind, scope, bucket, buckets)
            return found
        return None

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        by_caller, by_end_user = self._methods[method]
        if by_caller is not None:
            caller = request_context.caller.get()
            if caller is not None and (wait := by_caller.buckets.take(caller)):
                raise by_caller.refusal(caller, method, wait)
        if by_end_user is not None:
            user = request_context.end_user.get()
            if user is not None and (wait := by_end_user.buckets.take(user)):
                raise by_end_user.refusal(user, method, wait)
        return await call_next(request, context)
