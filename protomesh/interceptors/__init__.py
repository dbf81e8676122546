"""The server interceptor chain, outermost first — the one place that sets the order.

0. observers (protomesh.telemetry: the trace span, RED metrics), when turned on:
   they see everything below with its final status, authorization denials
   (PERMISSION_DENIED) and invalid requests included;
0b. load shedding (`limits.max_concurrent_calls`): refuses the excess before any
   other work, so overload costs next to nothing (health is never shed);
1. request id: every log line after it carries the id;
2. access log: sees the final status of everything inside it;
3. deadline: bounds all the work below, errors included;
4. errors: turns domain errors (from authorization, validation or handlers) into statuses;
5. authorization: the caller's certificate identity against the service's allow-list,
   before any work is done for it; it also says whether the call acts for an end user;
6. end-user policy: for calls from the edge, the route's `auth` (public, signed_in,
   owner, role), on the decoded request;
7. rate limits (`limits.per_caller`/`per_end_user`): after both authorizations, so the
   caller is known and a refused caller spends no one's budget; before validation;
8. validation: rejects requests that break the contract before any handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from protomesh.authz import CallerPolicy
from protomesh.interceptors.access_log import AccessLogInterceptor
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.interceptors.deadline import DeadlineInterceptor
from protomesh.interceptors.end_user_policy import EndUserPolicyInterceptor, RoutePolicies
from protomesh.interceptors.errors import ErrorInterceptor
from protomesh.interceptors.rate_limits import RateLimitInterceptor
from protomesh.interceptors.readiness_gate import ReadinessGate
from protomesh.interceptors.request_id import RequestIdInterceptor
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
        RequestIdInterceptor(),
        AccessLogInterceptor(),
        DeadlineInterceptor(default_timeout),
        ErrorInterceptor(domain),
        AuthorizationInterceptor(callers, enforce=enforce_callers),
        EndUserPolicyInterceptor(routes, enforce=enforce_callers),
        *([rate_limits] if rate_limits.limits_anything else []),
        *([readiness_gate] if readiness_gate is not None else []),
        ValidationInterceptor(validators),
    ]
