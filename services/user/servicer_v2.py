"""shop.user.v2.UserService: maps v2 messages to the same use cases as v1."""

from __future__ import annotations

from typing import Any

import grpc
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc

from protomesh import edge_auth
from services.user import handlers, mapping
from services.user.handlers import Clock, UserStore

Context = grpc.aio.ServicerContext[Any, Any]


class UserServiceV2(user_pb2_grpc.UserServiceServicer):
    def __init__(self, store: UserStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def CreateUser(
        self, request: v2.CreateUserRequest, context: Context
    ) -> v2.CreateUserResponse:
        command = handlers.RegisterUser(
            email=request.email,
            given_name=request.name.given_name,
            family_name=request.name.family_name,
        )
        user = await handlers.register_user(command, self._store, self._clock)
        return v2.CreateUserResponse(user=mapping.to_v2(user))

    async def GetUser(self, request: v2.GetUserRequest, context: Context) -> v2.GetUserResponse:
        user = await handlers.get_user(mapping.user_id(request.user_id), self._store)
        private = edge_auth.may_see_as_owner(context, str(user.id))
        return v2.GetUserResponse(user=mapping.to_v2(user, private=private))

    async def ListUsers(
        self, request: v2.ListUsersRequest, context: Context
    ) -> v2.ListUsersResponse:
        query = handlers.ListUsers(
            page_size=request.page_size,
            page_token=request.page_token,
            email_verified=mapping.verification_filter(request.email_verification),
        )
        page = await handlers.list_users(query, self._store)
        return v2.ListUsersResponse(
            users=[mapping.to_v2(u) for u in page.users], next_page_token=page.next_page_token
        )

    async def UpdateUser(
        self, request: v2.UpdateUserRequest, context: Context
    ) -> v2.UpdateUserResponse:
        has_name = request.HasField("name")
        command = handlers.UpdateUser(
            user_id=mapping.user_id(request.user_id),
            email=request.email if request.HasField("email") else None,
            given_name=request.name.given_name if has_name else None,
            family_name=request.name.family_name if has_name else None,
        )
        user = await handlers.update_user(command, self._store, self._clock)
        return v2.UpdateUserResponse(user=mapping.to_v2(user))

    async def VerifyEmail(
        self, request: v2.VerifyEmailRequest, context: Context
    ) -> v2.VerifyEmailResponse:
        user = await handlers.verify_email(
            mapping.user_id(request.user_id), request.email, self._store, self._clock
        )
        return v2.VerifyEmailResponse(user=mapping.to_v2(user))
