"""The server interceptor chain, outermost first — the one place that sets the order.

0. observers (protomesh.telemetry: the trace span, RED metrics), when turned on:
   they see everything below, including the final status;
1. request id: every log line after it carries the id;
2. access log: sees the final status of everything inside it;
3. deadline: bounds all the work below, errors included;
4. errors: turns domain errors (from validation or handlers) into statuses;
5. validation: rejects requests that break the contract before any handler runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc

from protomesh.interceptors.access_log import AccessLogInterceptor
from protomesh.interceptors.deadline import DeadlineInterceptor
from protomesh.interceptors.errors import ErrorInterceptor
from protomesh.interceptors.request_id import RequestIdInterceptor
from protomesh.interceptors.validation import ValidationInterceptor, Validator


def server_chain(
    *,
    domain: str,
    default_timeout: float,
    validators: Mapping[str, Validator],
    observers: Sequence[grpc.aio.ServerInterceptor] = (),
) -> list[grpc.aio.ServerInterceptor]:
    return [
        *observers,
        RequestIdInterceptor(),
        AccessLogInterceptor(),
        DeadlineInterceptor(default_timeout),
        ErrorInterceptor(domain),
        ValidationInterceptor(validators),
    ]
