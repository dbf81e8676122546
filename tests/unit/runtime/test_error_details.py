from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from protomesh import errors
from protomesh.interceptors.errors import to_status

M = TypeVar("M", bound=Message)


class EmailAlreadyTaken(errors.AlreadyExists):
    pass


def decoded(status: grpc.Status) -> status_pb2.Status:
    trailer = dict(status.trailing_metadata)["grpc-status-details-bin"]
    return status_pb2.Status.FromString(trailer)


def unpack(status: status_pb2.Status, kind: type[M]) -> list[M]:
    found = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def test_invalid_argument_lists_every_field_violation() -> None:
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("email", "required"),
            errors.FieldViolation("name.given_name", "required"),
        ]
    )
    status = to_status(error, "user.protomesh")
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    (bad_request,) = unpack(decoded(status), error_details_pb2.BadRequest)
    assert [v.field for v in bad_request.field_violations] == ["email", "name.given_name"]


def test_every_status_carries_an_error_info_named_after_the_error() -> None:
    status = to_status(EmailAlreadyTaken("email", "a@b.io", "taken"), "user.protomesh")
    assert status.code == grpc.StatusCode.ALREADY_EXISTS
    (info,) = unpack(decoded(status), error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("EMAIL_ALREADY_TAKEN", "user.protomesh")
    (resource,) = unpack(decoded(status), error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("email", "a@b.io")


def test_unavailable_tells_the_caller_when_to_retry() -> None:
    status = to_status(errors.Unavailable("postgres is down", retry_after=1.5), "x")
    assert status.code == grpc.StatusCode.UNAVAILABLE
    (retry,) = unpack(decoded(status), error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 1500


def test_failed_precondition_names_the_subject() -> None:
    error = errors.FailedPrecondition("shipped orders cannot be cancelled", subject="order/1")
    (failure,) = unpack(decoded(to_status(error, "x")), error_details_pb2.PreconditionFailure)
    assert failure.violations[0].subject == "order/1"


def test_resource_exhausted_names_the_quota_and_when_to_retry() -> None:
    violation = errors.QuotaViolation("caller:order", "3 calls per 60s, burst 3, for the service")
    error = errors.ResourceExhausted("over the limit", retry_after=0.4, violations=(violation,))
    status = to_status(error, "x")
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    (quota,) = unpack(decoded(status), error_details_pb2.QuotaFailure)
    assert [(v.subject, v.description) for v in quota.violations] == [
        ("caller:order", "3 calls per 60s, burst 3, for the service")
    ]
    (retry,) = unpack(decoded(status), error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 400


def test_a_retry_hint_also_travels_as_whole_seconds_in_a_retry_after_trailer() -> None:
    trailers = dict(to_status(errors.Unavailable("down", retry_after=1.2), "x").trailing_metadata)
    assert trailers["retry-after"] == "2"  # rounded up: never sooner than the hint
    no_hint = to_status(errors.ResourceExhausted("full"), "x")
    assert "retry-after" not in dict(no_hint.trailing_metadata)
    assert not unpack(decoded(no_hint), error_details_pb2.QuotaFailure)
