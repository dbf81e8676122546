"""Turn domain errors into gRPC statuses with `google.rpc` details.

Callers get a status code they can act on plus machine-readable details
(BadRequest field violations, ResourceInfo, PreconditionFailure, RetryInfo,
QuotaFailure and always an ErrorInfo whose reason names the error). An error
that says when to retry also carries a `retry-after` trailer in whole seconds:
in a trailers-only reply (an error before any message) it is a header, and
Envoy's transcoder hands it to REST clients as HTTP's `Retry-After`. Anything unexpected becomes
INTERNAL with the request id and nothing else: stack traces stay in our logs.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from protomesh import errors, request_context
from protomesh.interceptors.database_loss import database_unavailable

log = logging.getLogger("protomesh.errors")
RETRY_AFTER = "retry-after"


@dataclass(frozen=True)
class _Status(grpc.Status):
    """grpc_status's own status class is private: this one adds a trailer to one of its."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


_CODES: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (errors.NotFound, code_pb2.NOT_FOUND),
    (errors.AlreadyExists, code_pb2.ALREADY_EXISTS),
    (errors.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (errors.PermissionDenied, code_pb2.PERMISSION_DENIED),
    (errors.Unauthenticated, code_pb2.UNAUTHENTICATED),
    (errors.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (errors.Unavailable, code_pb2.UNAVAILABLE),
)


def _reason(error: errors.DomainError) -> str:
    """`EmailAlreadyTaken` → `EMAIL_ALREADY_TAKEN`: a stable key clients can switch on."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).upper()


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _retry_info(seconds: float | None) -> list[any_pb2.Any]:
    if seconds is None:
        return []
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(seconds * 1e9))
    return [_pack(error_details_pb2.RetryInfo(retry_delay=delay))]


def _details(error: errors.DomainError) -> list[any_pb2.Any]:
    match error:
        case errors.InvalidArgument():
            violations = [
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
            return [_pack(error_details_pb2.BadRequest(field_violations=violations))]
        case errors.NotFound() | errors.AlreadyExists():
            info = error_details_pb2.ResourceInfo(
                resource_type=error.resource_type,
                resource_name=error.resource_name,
                description=error.message,
            )
            return [_pack(info)]
        case errors.FailedPrecondition():
            violation = error_details_pb2.PreconditionFailure.Violation(
                type=error.kind, subject=error.subject, description=error.message
            )
            return [_pack(error_details_pb2.PreconditionFailure(violations=[violation]))]
        case errors.ResourceExhausted():
            violations = [
                error_details_pb2.QuotaFailure.Violation(
                    subject=v.subject, description=v.description
                )
                for v in error.violations
            ]
            quota = [_pack(error_details_pb2.QuotaFailure(violations=violations))]
            return _retry_info(error.retry_after) + (quota if violations else [])
        case errors.Unavailable():
            return _retry_info(error.retry_after)
        case _:
            return []


def to_status(error: errors.DomainError, domain: str) -> grpc.Status:
    code = next(code for kind, code in _CODES if isinstance(error, kind))
    info = error_details_pb2.ErrorInfo(reason=_reason(error), domain=domain)
    status = status_pb2.Status(
        code=code, message=error.message, details=[*_details(error), _pack(info)]
    )
    converted: grpc.Status = rpc_status.to_status(status)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is None:
        return converted
    # HTTP's Retry-After counts whole seconds; round up so a client never comes back early.
    trailer = (RETRY_AFTER, str(max(1, math.ceil(retry_after))))
    return _Status(converted.code, converted.details, (*converted.trailing_metadata, trailer))


async def refuse_with_status(
    error: Exception,
    context: grpc.aio.ServicerContext[Any, Any],
    *,
    domain: str,
    method: str,
) -> None:
    """Abort the call for `error`: its status when it is a domain error, else INTERNAL.

    The call frame (`protomesh.interceptors.call_frame`) calls this for any
    Exception but an abort, so authorization, validation and handlers all end
    the same way. A lost database (PostgreSQL restarting) is retryable, not a
    bug: UNAVAILABLE with RetryInfo. `abort` raises.
    """
    if isinstance(error, errors.DomainError):
        await context.abort_with_status(to_status(error, domain))
    unavailable = database_unavailable(error)
    if unavailable is not None:
        log.warning("%s: database unreachable: %r", method, error)
        await context.abort_with_status(to_status(unavailable, domain))
    log.exception("unhandled error in %s", method, exc_info=error)
    rid = request_context.request_id.get()
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")
