"""Authorize every call by the caller's certificate identity (pattern 17).

The caller's name comes from its TLS certificate (`peer_spiffe_id` in the
call's auth context) and is checked against the service's `CallerPolicy`
before any handler, validation included, runs. A refused call is
PERMISSION_DENIED naming the caller and the method, so whoever reads the
error or the log knows which line of mesh.yaml to change.

It also decides whether the end user forwarded in `x-jwt-sub` (and their
roles, `x-jwt-roles`) is believed: only from a caller the policy names as a
forwarder (the edge, by default), whose calls are then marked as made for an
end user (signed in or anonymous), so the route's end-user policy applies
(`end_user_policy.py`). From anyone else the headers are ignored and the
attempt logged: a service must not be able to act as any user, or as an
admin, by sending a header.

All four handler kinds are wrapped, not only unary ones: a streaming method
must not be a way around deny-by-default. Health and reflection are open to
every mesh certificate and pass through untouched (no per-call cost).

With TLS off (`PROTOMESH_INSECURE=1`) there are no identities to check: the
interceptor is built with `enforce=False` and allows every call (the server
then listens on loopback only), but it believes no end user header: no
caller can be identified as the edge, so the switch changes how calls travel,
never who is trusted. Nor is any call internal: a call without an end user
is internal only when the caller's certificate names a mesh service that
does not forward end users (not the edge: from it, such a call is anonymous).

An identity-bearing metadata key sent more than once is refused
(UNAUTHENTICATED): picking one of the values would let a client smuggle a
second one past whoever checked the first.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from protomesh import errors, request_context
from protomesh.authz import CallerPolicy, caller_name, is_open_to_mesh
from protomesh.edge_auth import IDENTITY_METADATA, ROLES_METADATA, SUBJECT_METADATA, parse_roles

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]

log = logging.getLogger("protomesh.authz")
Context = grpc.aio.ServicerContext[Any, Any]
SPIFFE_KEY = "peer_spiffe_id"


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, policy: CallerPolicy, *, enforce: bool = True) -> None:
        self.policy = policy
        self.enforce = enforce
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or is_open_to_mesh(method):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def admit(self, method: str, context: Context) -> None:
        """Raise PermissionDenied unless the caller may call `method`; note the end user."""
        identity = _identity(context)
        subject = identity.get(SUBJECT_METADATA)
        roles = identity.get(ROLES_METADATA)
        if not self.enforce:
            # No caller can be known to be the edge: the call acts for an anonymous
            # end user, never for a believed one and never internally.
            request_context.for_end_user.set(True)
            if subject is not None or roles is not None:
                log.warning(
                    "ignored the end user (%s, %s): without mTLS no caller is known to forward one",
                    SUBJECT_METADATA,
                    ROLES_METADATA,
                )
            return
        caller = self.caller(context)
        request_context.caller.set(caller)
        if caller is None:
            raise errors.PermissionDenied(
                f"{method} needs a caller with a mesh identity "
                f"(spiffe://{self.policy.trust_domain}/svc/<name>)"
            )
        if not self.policy.allows(method, caller):
            log.warning("denied %s to %s", method, caller, extra={"caller": caller})
            raise errors.PermissionDenied(f"{caller} may not call {method}")
        if self.policy.forwards_end_user(caller):
            request_context.for_end_user.set(True)
            request_context.end_user.set(subject)
            if subject is not None and roles is not None:
                request_context.end_user_roles.set(parse_roles(roles))
        elif subject is None and roles is None:
            request_context.internal.set(True)
        else:
            log.warning(
                "ignored the end user (%s, %s) sent by %s: only %s may forward one",
                SUBJECT_METADATA,
                ROLES_METADATA,
                caller,
                ", ".join(sorted(self.policy.end_user_from)) or "no one",
                extra={"caller": caller},
            )

    def caller(self, context: Context) -> str | None:
        ids = list(context.auth_context().get(SPIFFE_KEY) or ())
        if len(ids) != 1:
            return None
        return caller_name(ids[0].decode(errors="replace"), self.policy.trust_domain)

    def _wrap(self, method: str, handler: Handler) -> Handler:
        kind = (handler.request_streaming, handler.response_streaming)
        codecs: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        admit = self.admit

        if kind == (False, False):
            unary: Any = handler.unary_unary

            async def unary_unary(request: Any, context: Context) -> Any:
                admit(method, context)
                result = unary(request, context)
                return await result if inspect.isawaitable(result) else result

            return grpc.unary_unary_rpc_method_handler(unary_unary, **codecs)
        if kind == (False, True):
            server_stream: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                await _admit_stream(admit, method, context)
                async for reply in server_stream(request, context):
                    yield reply

            return grpc.unary_stream_rpc_method_handler(unary_stream, **codecs)
        if kind == (True, False):
            client_stream: Any = handler.stream_unary

            async def stream_unary(requests: Any, context: Context) -> Any:
                await _admit_stream(admit, method, context)
                return await client_stream(requests, context)

            return grpc.stream_unary_rpc_method_handler(stream_unary, **codecs)
        bidi: Any = handler.stream_stream

        async def stream_stream(requests: Any, context: Context) -> AsyncIterator[Any]:
            await _admit_stream(admit, method, context)
            async for reply in bidi(requests, context):
                yield reply

        return grpc.stream_stream_rpc_method_handler(stream_stream, **codecs)


async def _admit_stream(
    admit: Callable[[str, Context], None], method: str, context: Context
) -> None:
    """Streams are not inside the error interceptor (it wraps unary calls): abort here."""
    try:
        admit(method, context)
    except errors.PermissionDenied as denied:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, denied.message)
    except errors.Unauthenticated as refused:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, refused.message)


def _identity(context: Context) -> dict[str, str]:
    """The one value of each IDENTITY_METADATA key sent; a key sent twice is refused."""
    values: dict[str, list[str | bytes]] = {}
    for key, value in context.invocation_metadata() or ():
        if key in IDENTITY_METADATA:
            values.setdefault(key, []).append(value)
    found: dict[str, str] = {}
    for key, sent in values.items():
        if len(sent) > 1:
            raise errors.Unauthenticated(f"{key} was sent {len(sent)} times; send it once")
        if isinstance(sent[0], str) and sent[0]:
            found[key] = sent[0]
    return found
