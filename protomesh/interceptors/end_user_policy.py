"""Apply each route's end-user policy (mesh.yaml `edge.routes ... auth:`) in the service.

Envoy authenticates (a valid token, where the route requires one); the
service authorizes. This interceptor runs after the caller's certificate has
been checked (`authorization.py`), and only for calls that act for an end
user: those from a forwarder of end users (the edge). A service-to-service
call (order → user GetUser, with the order identity and no end user) is the
`callers` allow-list's to decide, and passes untouched.

    public            anyone
    signed_in         an end user, else UNAUTHENTICATED
    {owner: user_id}  the end user whose subject equals the request's user_id,
                      else PERMISSION_DENIED (UNAUTHENTICATED when anonymous)
    {role: admin}     an end user whose token's roles hold admin, else the same

A method the edge exposes without a policy, or that the edge does not expose
at all, is refused to end users: deny by default. Finer rules that need the
stored resource (an order that is not the caller's is NOT_FOUND; GetUser hides
the email from others) stay in the service's own code.

Like the base it builds on, it wraps unary methods, which every API here is; a
streaming method would pass unchecked, so the registry check refuses to
expose one at the edge (`protomesh/registry/catalogue.py`).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
from google.protobuf.message import Message

from protomesh import errors, request_context
from protomesh.interceptors.base import Behavior, UnaryInterceptor
from protomesh.registry import Access, Edge
from protomesh.registry.model import OWNER, PUBLIC, ROLE

log = logging.getLogger("protomesh.authz")


class RoutePolicies:
    """The end-user policy of each RPC the edge exposes, by full method path."""

    def __init__(self, edge: Edge | None) -> None:
        self._edge = edge

    def of(self, method: str) -> Access | None:
        """`/shop.user.v1.UserService/GetUser` → its resolved `auth`; None: none (deny)."""
        proto_service, _, name = method.removeprefix("/").partition("/")
        if self._edge is None or proto_service not in self._edge.exposed:
            return None
        return self._edge.policy(proto_service, name).auth


class EndUserPolicyInterceptor(UnaryInterceptor):
    def __init__(self, policies: RoutePolicies, *, enforce: bool = True) -> None:
        super().__init__()
        self.policies = policies
        self.enforce = enforce

    async def intercept(
        self,
        method: str,
        request: Message,
        context: grpc.aio.ServicerContext[Any, Any],
        call_next: Behavior,
    ) -> Message:
        if self.enforce:
            self.admit(method, request)
        return await call_next(request, context)

    def admit(self, method: str, request: Message) -> None:
        """Raise unless the call's end user may call `method` with `request`."""
        if not request_context.for_end_user.get():
            return  # a call inside the mesh: its caller's allow-list decided
        access = self.policies.of(method)
        if access is None:
            self._deny(method, "it has no end-user policy (auth) in mesh.yaml: denied by default")
        if access.kind == PUBLIC:
            return
        subject = request_context.end_user.get()
        if subject is None:
            raise errors.Unauthenticated(f"{method} needs a signed-in user")
        if access.kind == OWNER and getattr(request, access.value, None) != subject:
            self._deny(method, f"only the user its {access.value} names may call it")
        if access.kind == ROLE and access.value not in request_context.end_user_roles.get():
            self._deny(method, f"it needs the role {access.value}")

    @staticmethod
    def _deny(method: str, why: str) -> NoReturn:
        subject = request_context.end_user.get()
        log.warning("denied %s to end user %s: %s", method, subject, why)
        raise errors.PermissionDenied(f"{method}: {why}")
