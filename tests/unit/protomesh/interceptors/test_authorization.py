"""Per-RPC authorization by the caller's certificate identity (protomesh.authz)."""

from __future__ import annotations

import contextvars

import pytest

from protomesh.authz import CallerPolicy, caller_name, is_open_to_mesh
from protomesh.errors import PermissionDenied, Unauthenticated
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.principal import ANONYMOUS, INTERNAL, Viewer
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
    return viewer_of(
        policy, method, caller, domain=domain, enforce=enforce, metadata=metadata
    ).end_user


def viewer_of(
    policy: CallerPolicy,
    method: str,
    caller: str | None,
    *,
    domain: str = DOMAIN,
    enforce: bool = True,
    metadata: list[tuple[str, str]] | None = None,
) -> Viewer:
    """Admit one call; who the use case then sees it acting for."""
    context = FakeContext(domain, caller, metadata or [])

    def call() -> Viewer:
        AuthorizationInterceptor(policy, enforce=enforce).admit(method, context.typed)
        return Viewer.of_call()

    return contextvars.copy_context().run(call)


def test_the_checked_in_mesh_lets_order_read_users_but_not_create_them() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    for caller in ("edge", "order", "bff", "operator"):
        assert policy.allows(GET_USER, caller)
    assert policy.allows(CREATE_USER, "edge")
    assert not policy.allows(CREATE_USER, "order")
    for undeclared in ("stranger", "order-cdc"):  # not a caller this service names: no access
        assert not policy.allows(GET_USER, undeclared)


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


def test_with_tls_off_no_end_user_is_believed_and_no_call_is_internal() -> None:
    policy = CallerPolicy.from_rules(DOMAIN, {})
    sent = [("x-jwt-sub", "a")]
    assert viewer_of(policy, GET_USER, None, enforce=False, metadata=sent) == ANONYMOUS
    assert viewer_of(policy, GET_USER, None, enforce=False) == ANONYMOUS


@pytest.mark.parametrize("enforce", [True, False])
def test_an_end_user_header_sent_twice_is_refused(enforce: bool) -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    twice = [("x-jwt-sub", "alice"), ("x-jwt-sub", "mallory")]
    with pytest.raises(Unauthenticated, match="x-jwt-sub was sent 2 times"):
        admit(policy, GET_USER, "edge", enforce=enforce, metadata=twice)


def test_a_call_without_an_end_user_is_internal_only_from_a_non_forwarding_service() -> None:
    policy = CallerPolicy.of(load_mesh(), "user")
    assert viewer_of(policy, GET_USER, "order") == INTERNAL
    assert viewer_of(policy, GET_USER, "edge") == ANONYMOUS  # the edge, no signed-in user
    assert viewer_of(policy, GET_USER, "edge", metadata=[("x-jwt-sub", "a")]) == Viewer("a")
    # A service that is not a forwarder and sends a user anyway is not believed either way.
    assert viewer_of(policy, GET_USER, "order", metadata=[("x-jwt-sub", "a")]) == ANONYMOUS


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
