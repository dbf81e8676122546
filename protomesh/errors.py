"""The error vocabulary shared by every service's domain.

Pure Python on purpose: domain modules raise these without importing grpc, and
`protomesh.interceptors.errors` turns them into gRPC statuses with
`google.rpc` details. Subclass them with names from the domain
(`EmailAlreadyTaken(AlreadyExists)`); the message is shown to callers, so it
must be safe to show.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One broken request constraint, named by its proto field path (`name.given_name`)."""

    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    """One quota a call ran out of: whose (`caller:order`, `end_user:alice`) and which."""

    subject: str
    description: str


class DomainError(Exception):
    """An expected failure with a message fit for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request breaks its contract; every violated field is listed."""

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        fields = ", ".join(v.field for v in violations)
        super().__init__(message or f"invalid request: {fields}")
        self.violations = tuple(violations)


class NotFound(DomainError):
    """The named resource does not exist."""

    def __init__(self, resource_type: str, resource_name: str) -> None:
        super().__init__(f"{resource_type} {resource_name!r} not found")
        self.resource_type = resource_type
        self.resource_name = resource_name


class AlreadyExists(DomainError):
    """Creating the resource would collide with an existing one."""

    def __init__(self, resource_type: str, resource_name: str, message: str) -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.resource_name = resource_name


class FailedPrecondition(DomainError):
    """The system is not in a state that allows the operation; retrying as-is won't help."""

    def __init__(self, message: str, *, subject: str = "", kind: str = "STATE") -> None:
        super().__init__(message)
        self.subject = subject
        self.kind = kind


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class Unauthenticated(DomainError):
    """The caller's identity is missing or not trusted."""


class ResourceExhausted(DomainError):
    """A limit was hit; the caller may retry after `retry_after` seconds.

    `violations` name the quotas that ran out, when a quota (not a shortage) refused the call.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        violations: tuple[QuotaViolation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.violations = violations


class Unavailable(DomainError):
    """A dependency is unreachable; the call is safe to retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
