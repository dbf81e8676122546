"""Per-RPC authorization by the caller's certificate identity (protomesh.authz)."""

from __future__ import annotations

import contextvars

import pytest

from protomesh import request_context
from protomesh.authz import CallerPolicy, caller_name, is_open_to_mesh
from protomesh.errors import PermissionDenied
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.registry import load_mesh
from tests.unit.protomesh.interceptors.fake_context import FakeContext

DOMAIN = "protomesh.local"
GET_USER = "/shop.user.v1.UserService/GetUser"
CREATE_USER = "/shop.user.v1.UserService/CreateUser"


def admit(
    policy: CallerPolicy,
    method: str,
    caller: str | None,
    *,
    domain: str = DOMAIN,
    enforce: bool = True,
    metadata: list[tuple[str, str]] | None = None,
) -> str | None:
    """Admit one call; the end user the handler would then see."""
    context = FakeContext(domain, caller, metadata or [])

    def call() -> str | None:
        AuthorizationInterceptor(policy, enforce=enforce).admit(method, context.typed)
        return request_context.end_user.get()

    return contextvars.copy_context().run(call)


def test_the_checked_in_mesh_lets_order_and_bff_read_users_but_not_create_them() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    for caller in ("edge", "order", "bff", "operator"):
        assert policy.allows(GET_USER, caller)
    assert policy.allows(CREATE_USER, "edge")
    assert not policy.allows(CREATE_USER, "order")
    assert not policy.allows(GET_USER, "stranger")


def test_a_methods_own_rule_replaces_its_services_wildcard() -> None:
    policy = CallerPolicy.from_rules(DOMAIN, {"pkg.Svc/*": ["edge"], "pkg.Svc/Read": ["order"]})
    assert policy.callers_of("/pkg.Svc/Read") == {"order"}
    assert policy.callers_of("/pkg.Svc/Write") == {"edge"}
    assert policy.callers_of("/other.Svc/Read") == frozenset()  # deny by default


def test_a_refusal_names_the_caller_and_the_method() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    with pytest.raises(PermissionDenied, match=f"order may not call {CREATE_USER}"):
        admit(policy, CREATE_USER, "order")
    assert admit(policy, GET_USER, "order") is None


def test_a_caller_without_a_mesh_identity_is_refused() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    with pytest.raises(PermissionDenied, match="needs a caller with a mesh identity"):
        admit(policy, GET_USER, None)
    with pytest.raises(PermissionDenied, match="needs a caller with a mesh identity"):
        admit(policy, GET_USER, "edge", domain="elsewhere.example")


def test_the_end_user_is_believed_from_the_edge_only() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    forged = [("x-jwt-sub", "alice")]
    assert admit(policy, GET_USER, "edge", metadata=forged) == "alice"
    assert admit(policy, GET_USER, "order", metadata=forged) is None


def test_a_service_may_name_another_forwarder() -> None:
    policy = CallerPolicy.from_rules(DOMAIN, {"pkg.Svc/*": ["bff"]}, end_user_from=["edge", "bff"])
    assert admit(policy, "/pkg.Svc/Read", "bff", metadata=[("x-jwt-sub", "ada")]) == "ada"


def test_with_tls_off_nothing_is_enforced_and_the_header_is_believed() -> None:
    policy = CallerPolicy.from_rules(DOMAIN, {})
    assert admit(policy, GET_USER, None, enforce=False, metadata=[("x-jwt-sub", "a")]) == "a"


def test_health_and_reflection_are_open_to_the_mesh() -> None:
    assert is_open_to_mesh("/grpc.health.v1.Health/Check")
    assert is_open_to_mesh("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not is_open_to_mesh(GET_USER)


@pytest.mark.parametrize(
    ("spiffe_id", "name"),
    [
        ("spiffe://protomesh.local/svc/order", "order"),
        ("spiffe://other.local/svc/order", None),
        ("spiffe://protomesh.local/svc/", None),
        ("spiffe://protomesh.local/svc/a/b", None),
        ("spiffe://protomesh.local/ns/order", None),
    ],
)
def test_caller_names_come_only_from_this_trust_domains_service_ids(
    spiffe_id: str, name: str | None
) -> None:
    assert caller_name(spiffe_id, DOMAIN) == name
