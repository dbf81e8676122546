"""Each route's end-user policy, applied in the service (protomesh.interceptors.end_user_policy).

Each test admits a call as a real server would (caller identity first, then
the route's policy), with the project's mesh.yaml and the real request
messages, so the owner field is read from a decoded request.
"""

from __future__ import annotations

import base64
import contextvars
import json

import pytest
from google.protobuf.message import Message
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2 as v1

from protomesh import edge_auth
from protomesh.authz import CallerPolicy
from protomesh.errors import PermissionDenied, Unauthenticated
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.interceptors.end_user_policy import EndUserPolicyInterceptor, RoutePolicies
from protomesh.registry import load_mesh
from tests.unit.runtime.fake_context import FakeContext

MESH = load_mesh()
USERS = "/shop.user.v1.UserService"
ORDERS = "/shop.order.v1.OrderService"


def admit(
    method: str,
    request: Message,
    caller: str = "edge",
    subject: str | None = None,
    roles: str | None = None,
) -> bool:
    """Admit one call to the user or order service; True when it may go on."""
    service = "order" if method.startswith(ORDERS) else "user"
    metadata = [("x-jwt-sub", subject)] if subject else []
    metadata += [("x-jwt-roles", roles)] if roles else []
    context = FakeContext(MESH.trust_domain, caller, metadata)

    def call() -> bool:
        AuthorizationInterceptor(CallerPolicy.of(MESH, service)).admit(method, context.typed)
        EndUserPolicyInterceptor(RoutePolicies(MESH.edge)).admit(method, request)
        return True

    return contextvars.copy_context().run(call)


def test_a_public_route_admits_anyone() -> None:
    assert admit(f"{USERS}/CreateUser", v1.CreateUserRequest())
    assert admit(f"{USERS}/GetUser", v1.GetUserRequest(user_id="u1"), subject="bob")


def test_an_owner_route_admits_the_user_the_request_names_only() -> None:
    update = v1.UpdateUserRequest(user_id="alice")
    assert admit(f"{USERS}/UpdateUser", update, subject="alice")
    with pytest.raises(PermissionDenied, match="only the user its user_id names may call it"):
        admit(f"{USERS}/UpdateUser", update, subject="bob")
    with pytest.raises(PermissionDenied):  # an admin is not the owner
        admit(f"{USERS}/UpdateUser", update, subject="root", roles="admin")
    with pytest.raises(Unauthenticated, match="needs a signed-in user"):
        admit(f"{USERS}/UpdateUser", update)


def test_a_role_route_admits_a_token_holding_the_role() -> None:
    listing = v1.ListUsersRequest()
    as_array = base64.b64encode(json.dumps(["support", "admin"]).encode()).decode()
    assert admit(f"{USERS}/ListUsers", listing, subject="root", roles=as_array)
    assert admit(f"{USERS}/ListUsers", listing, subject="root", roles="admin")
    with pytest.raises(PermissionDenied, match="it needs the role admin"):
        admit(f"{USERS}/ListUsers", listing, subject="bob", roles="support")
    with pytest.raises(Unauthenticated):
        admit(f"{USERS}/ListUsers", listing)


def test_signed_in_routes_need_a_subject() -> None:
    get = order_pb2.GetOrderRequest(order_id="o1")
    assert admit(f"{ORDERS}/GetOrder", get, subject="alice")
    with pytest.raises(Unauthenticated):
        admit(f"{ORDERS}/GetOrder", get)


def test_calls_inside_the_mesh_are_the_callers_lists_to_decide() -> None:
    """order → user GetUser and the operator's grpcurl carry no end user: no route policy."""
    assert admit(f"{USERS}/GetUser", v1.GetUserRequest(user_id="u1"), caller="order")
    listing = v1.ListUsersRequest()
    assert admit(f"{USERS}/ListUsers", listing, caller="operator")


def test_a_role_or_subject_sent_by_another_caller_is_not_believed() -> None:
    """The operator may call ListUsers as itself, but cannot lend an end user the admin role."""
    context = FakeContext(
        MESH.trust_domain, "order", [("x-jwt-sub", "x"), ("x-jwt-roles", "admin")]
    )

    def call() -> tuple[str | None, bool]:
        AuthorizationInterceptor(CallerPolicy.of(MESH, "user")).admit(
            f"{USERS}/GetUser", context.typed
        )
        return edge_auth.end_user(context.typed), edge_auth.acts_for_end_user(context.typed)

    assert contextvars.copy_context().run(call) == (None, False)


def test_a_method_the_edge_does_not_expose_is_refused_to_end_users() -> None:
    with pytest.raises(PermissionDenied, match="no end-user policy"):
        admit("/shop.user.v1.UserService/DeleteUser", v1.GetUserRequest(), subject="alice")
    assert RoutePolicies(None).of(f"{USERS}/GetUser") is None


@pytest.mark.parametrize(
    ("header", "roles"),
    [
        ("admin", {"admin"}),
        (base64.b64encode(b'["admin", "support"]').decode(), {"admin", "support"}),
        (base64.b64encode(b'["admin", 7, ""]').decode(), {"admin"}),
        ("", set()),
    ],
)
def test_roles_are_read_as_envoy_forwards_them(header: str, roles: set[str]) -> None:
    """A string claim arrives as it is; an array as the base64 of its JSON."""
    assert edge_auth.parse_roles(header) == roles
