"""The server interceptor chain, outermost first — the one place that sets the order.

0. observers (protomesh.telemetry: the trace span, RED metrics), when turned on:
   they see everything below with its final status, authorization denials
   (PERMISSION_DENIED) and invalid requests included;
0b. load shedding (`limits.max_concurrent_calls`): refuses the excess before any
   other work, so overload costs next to nothing (health is never shed);
1-4. the call frame, one interceptor for the four concerns every call needs
   (protomesh.interceptors.call_frame; folded for speed, docs/performance.md):
   1. request id: every log line after it carries the id;
   2. access log: sees the final status of everything inside it;
   3. deadline: bounds all the work below, errors included;
   4. errors: turns domain errors (from authorization, validation or handlers) into statuses;
5. authorization: the caller's certificate identity against the service's allow-list,
   before any work is done for it; it also says whether the call acts for an end user;
6. decoding: a request whose bytes cannot be decoded is INVALID_ARGUMENT naming the field
   (its deserializer is swapped here for every handler, streams included);
7. end-user policy: for calls from the edge, the route's `auth` (public, signed_in,
   owner, role), on the decoded request;
8. rate limits (`limits.per_caller`/`per_end_user`): after both authorizations, so the
   caller is known and a refused caller spends no one's budget; before validation;
8b. readiness gate: while a dependency the service cannot work without is down
   (readiness NOT_SERVING), a call is refused at once with UNAVAILABLE and RetryInfo
   instead of waiting out its deadline (health is exempt);
9. validation: rejects requests that break the contract before any handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from protomesh.authz import CallerPolicy
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.interceptors.call_frame import CallFrameInterceptor
from protomesh.interceptors.decoding import DecodingInterceptor
from protomesh.interceptors.end_user_policy import EndUserPolicyInterceptor, RoutePolicies
from protomesh.interceptors.rate_limits import RateLimitInterceptor
from protomesh.interceptors.readiness_gate import ReadinessGate
from protomesh.interceptors.shedding import LoadShedder
from protomesh.interceptors.validation import ValidationInterceptor, Validator
from protomesh.registry import ServiceLimits


def server_chain(
    *,
    domain: str,
    default_timeout: float,
    validators: Mapping[str, Validator],
    callers: CallerPolicy,
    routes: RoutePolicies,
    enforce_callers: bool = True,
    observers: Sequence[grpc.aio.ServerInterceptor] = (),
    limits: ServiceLimits | None = None,
    readiness_gate: ReadinessGate | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    limits = limits or ServiceLimits()
    # Left out when unset: an unused limit costs nothing per call.
    bound = limits.max_concurrent_calls
    shedding = [LoadShedder(bound, domain)] if bound else []
    rate_limits = RateLimitInterceptor(limits)
    return [
        *observers,
        *shedding,
        CallFrameInterceptor(domain, default_timeout),
        AuthorizationInterceptor(callers, enforce=enforce_callers),
        DecodingInterceptor(domain),
        EndUserPolicyInterceptor(routes, enforce=enforce_callers),
        *([rate_limits] if rate_limits.limits_anything else []),
        *([readiness_gate] if readiness_gate is not None else []),
        ValidationInterceptor(validators),
    ]
