"""The server interceptor chain, outermost first — the one place that sets the order.

0. observers (protomesh.telemetry: the trace span, RED metrics), when turned on:
   they see everything below with its final status, authorization denials
   (PERMISSION_DENIED) and invalid requests included;
1. request id: every log line after it carries the id;
2. access log: sees the final status of everything inside it;
3. deadline: bounds all the work below, errors included;
4. errors: turns domain errors (from authorization, validation or handlers) into statuses;
5. authorization: the caller's certificate identity against the service's allow-list,
   before any work is done for it;
6. decoding: a request whose bytes cannot be decoded is INVALID_ARGUMENT naming the field
   (its deserializer is swapped here for every handler, streams included);
7. validation: rejects requests that break the contract before any handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from protomesh.authz import CallerPolicy
from protomesh.interceptors.access_log import AccessLogInterceptor
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.interceptors.deadline import DeadlineInterceptor
from protomesh.interceptors.decoding import DecodingInterceptor
from protomesh.interceptors.errors import ErrorInterceptor
from protomesh.interceptors.request_id import RequestIdInterceptor
from protomesh.interceptors.validation import ValidationInterceptor, Validator


def server_chain(
    *,
    domain: str,
    default_timeout: float,
    validators: Mapping[str, Validator],
    callers: CallerPolicy,
    enforce_callers: bool = True,
    observers: Sequence[grpc.aio.ServerInterceptor] = (),
) -> list[grpc.aio.ServerInterceptor]:
    return [
        *observers,
        RequestIdInterceptor(),
        AccessLogInterceptor(),
        DeadlineInterceptor(default_timeout),
        ErrorInterceptor(domain),
        AuthorizationInterceptor(callers, enforce=enforce_callers),
        DecodingInterceptor(domain),
        ValidationInterceptor(validators),
    ]
