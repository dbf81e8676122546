"""Give every call a request id: the caller's `x-request-id` or a fresh one.

Envoy generates or forwards `x-request-id` at the edge; this keeps it for the
logs of every hop. A malformed incoming id is replaced, not trusted, because it
ends up in log lines.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh import request_context
from protomesh.interceptors.base import Behavior, UnaryInterceptor

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def incoming_request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == HEADER and isinstance(value, str) and _ACCEPTABLE.fullmatch(value):
            return value
    return str(uuid.uuid4())


class RequestIdInterceptor(UnaryInterceptor):
    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        request_context.request_id.set(incoming_request_id(context.invocation_metadata()))
        request_context.rpc_method.set(method)
        return await call_next(request, context)
