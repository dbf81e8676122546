"""What a service reads of the end user the edge verified (protomesh.edge_auth)."""

from __future__ import annotations

from typing import Any, cast

import grpc
import pytest

from protomesh import edge_auth
from protomesh.errors import PermissionDenied, Unauthenticated


class FakeContext:
    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata = metadata

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata


def context(*metadata: tuple[str, str]) -> grpc.aio.ServicerContext[Any, Any]:
    return cast("grpc.aio.ServicerContext[Any, Any]", FakeContext(list(metadata)))


def test_the_subject_comes_from_the_edges_metadata() -> None:
    assert edge_auth.end_user(context(("x-jwt-sub", "alice"), ("x-request-id", "r1"))) == "alice"
    assert edge_auth.end_user(context(("x-request-id", "r1"))) is None
    assert edge_auth.end_user(context(("x-jwt-sub", ""))) is None


def test_an_anonymous_caller_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        edge_auth.require_end_user(context())


def test_only_the_owner_passes() -> None:
    alice = context(("x-jwt-sub", "alice"))
    assert edge_auth.require_end_user(alice, owner="alice") == "alice"
    with pytest.raises(PermissionDenied):
        edge_auth.require_end_user(alice, owner="bob")
