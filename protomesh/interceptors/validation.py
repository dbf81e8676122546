"""Check request constraints before the handler runs.

Constraints live in the contract (the "Constraints:" comments in proto/); each
service implements them once, as one validator per method, and hands the
table to this interceptor. A request that breaks any of them never reaches a
handler: the caller gets INVALID_ARGUMENT with every violated field listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from protomesh.errors import FieldViolation, InvalidArgument
from protomesh.interceptors.base import Behavior, UnaryInterceptor

Validator = Callable[[Any], list[FieldViolation]]


class ValidationInterceptor(UnaryInterceptor):
    def __init__(self, validators: Mapping[str, Validator]) -> None:
        super().__init__()
        self.validators = dict(validators)

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        validator = self.validators.get(method)
        if validator is not None:
            violations = validator(request)
            if violations:
                raise InvalidArgument(violations)
        return await call_next(request, context)
