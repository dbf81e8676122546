"""shop.user.v1.UserService: maps v1 messages to use cases and back."""

from __future__ import annotations

from typing import Any

import grpc
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc

from protomesh import edge_auth
from services.user import handlers, mapping
from services.user.handlers import Clock, UserStore

Context = grpc.aio.ServicerContext[Any, Any]


class UserServiceV1(user_pb2_grpc.UserServiceServicer):
    def __init__(self, store: UserStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def CreateUser(
        self, request: v1.CreateUserRequest, context: Context
    ) -> v1.CreateUserResponse:
        command = handlers.RegisterUser(email=request.email, display_name=request.display_name)
        user = await handlers.register_user(command, self._store, self._clock)
        return v1.CreateUserResponse(user=mapping.to_v1(user))

    async def GetUser(self, request: v1.GetUserRequest, context: Context) -> v1.GetUserResponse:
        user = await handlers.get_user(mapping.user_id(request.user_id), self._store)
        private = edge_auth.may_see_as_owner(context, str(user.id))
        return v1.GetUserResponse(user=mapping.to_v1(user, private=private))

    async def ListUsers(
        self, request: v1.ListUsersRequest, context: Context
    ) -> v1.ListUsersResponse:
        query = handlers.ListUsers(page_size=request.page_size, page_token=request.page_token)
        page = await handlers.list_users(query, self._store)
        return v1.ListUsersResponse(
            users=[mapping.to_v1(u) for u in page.users], next_page_token=page.next_page_token
        )

    async def UpdateUser(
        self, request: v1.UpdateUserRequest, context: Context
    ) -> v1.UpdateUserResponse:
        command = handlers.UpdateUser(
            user_id=mapping.user_id(request.user_id),
            email=request.email if request.HasField("email") else None,
            display_name=request.display_name if request.HasField("display_name") else None,
        )
        user = await handlers.update_user(command, self._store, self._clock)
        return v1.UpdateUserResponse(user=mapping.to_v1(user))
