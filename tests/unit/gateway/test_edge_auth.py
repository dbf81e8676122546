"""What a service reads of the end user the edge verified (protomesh.edge_auth).

The subject is set for the call by the authorization interceptor, which
believes `x-jwt-sub` only from the edge: each test admits a call as a real
server would, then reads it the way a handler does.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from protomesh import edge_auth
from protomesh.authz import CallerPolicy
from protomesh.errors import PermissionDenied, Unauthenticated
from protomesh.interceptors.authorization import AuthorizationInterceptor
from tests.unit.protomesh.interceptors.fake_context import FakeContext

T = TypeVar("T")
METHOD = "/shop.user.v1.UserService/UpdateUser"
POLICY = CallerPolicy.from_rules(
    "protomesh.local", {"shop.user.v1.UserService/*": ["edge", "order"]}
)


def as_handler(caller: str, metadata: list[tuple[str, str]], read: Callable[[Any], T]) -> T:
    """Admit one call from `caller` and run `read(context)` inside it, in its own context."""
    context = FakeContext("protomesh.local", caller, metadata)

    def call() -> T:
        AuthorizationInterceptor(POLICY).admit(METHOD, context.typed)
        return read(context.typed)

    return contextvars.copy_context().run(call)


def test_the_subject_comes_from_the_edges_metadata() -> None:
    sent = [("x-jwt-sub", "alice"), ("x-request-id", "r1")]
    assert as_handler("edge", sent, edge_auth.end_user) == "alice"
    assert as_handler("edge", [("x-request-id", "r1")], edge_auth.end_user) is None
    assert as_handler("edge", [("x-jwt-sub", "")], edge_auth.end_user) is None


def test_a_subject_sent_by_any_other_caller_is_ignored() -> None:
    assert as_handler("order", [("x-jwt-sub", "alice")], edge_auth.end_user) is None


def test_an_anonymous_caller_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        as_handler("edge", [], edge_auth.require_end_user)


def test_only_the_owner_passes() -> None:
    alice = [("x-jwt-sub", "alice")]
    assert as_handler("edge", alice, lambda c: edge_auth.require_end_user(c, owner="alice"))
    with pytest.raises(PermissionDenied):
        as_handler("edge", alice, lambda c: edge_auth.require_end_user(c, owner="bob"))
