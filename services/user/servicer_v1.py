"""shop.user.v1.UserService: maps v1 messages to use cases and back.

Mutating calls honour an idempotency key (`answer_once`): a repeat gets the
first response as this module serialized it.
"""

from __future__ import annotations

from typing import Any

import grpc
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc

from protomesh import edge_auth
from protomesh.idempotency import answer_once
from services.user import handlers, mapping
from services.user.domain import User
from services.user.handlers import Clock, UnitsOfWork, UserReader

Context = grpc.aio.ServicerContext[Any, Any]


def _created(user: User) -> v1.CreateUserResponse:
    return v1.CreateUserResponse(user=mapping.to_v1(user))


def _updated(user: User) -> v1.UpdateUserResponse:
    return v1.UpdateUserResponse(user=mapping.to_v1(user))


class UserServiceV1(user_pb2_grpc.UserServiceServicer):
    def __init__(self, users: UserReader, units: UnitsOfWork, clock: Clock) -> None:
        self._users = users
        self._units = units
        self._clock = clock

    async def CreateUser(
        self, request: v1.CreateUserRequest, context: Context
    ) -> v1.CreateUserResponse:
        command = handlers.RegisterUser(email=request.email, display_name=request.display_name)
        return await answer_once(
            context,
            request,
            _created,
            v1.CreateUserResponse,
            lambda reply: handlers.register_user(command, self._units(reply), self._clock),
        )

    async def GetUser(self, request: v1.GetUserRequest, context: Context) -> v1.GetUserResponse:
        user = await handlers.get_user(mapping.user_id(request.user_id), self._users)
        private = edge_auth.may_see_as_owner(context, str(user.id))
        return v1.GetUserResponse(user=mapping.to_v1(user, private=private))

    async def ListUsers(
        self, request: v1.ListUsersRequest, context: Context
    ) -> v1.ListUsersResponse:
        query = handlers.ListUsers(page_size=request.page_size, page_token=request.page_token)
        page = await handlers.list_users(query, self._users)
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
        return await answer_once(
            context,
            request,
            _updated,
            v1.UpdateUserResponse,
            lambda reply: handlers.update_user(command, self._units(reply), self._clock),
        )
