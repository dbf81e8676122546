"""shop.user.v2.UserService: maps v2 messages to the same use cases as v1.

Mutating calls honour an idempotency key (`answer_once`): a repeat gets the
first response as this module serialized it.
"""

from __future__ import annotations

from typing import Any

import grpc
from shop.user.v2 import user_pb2 as v2
from shop.user.v2 import user_pb2_grpc

from protomesh import edge_auth
from protomesh.idempotency import answer_once
from services.user import handlers, mapping
from services.user.domain import CODE_LIFETIME, User
from services.user.handlers import Clock, UnitsOfWork, UserReader
from services.user.mail import Mailer

Context = grpc.aio.ServicerContext[Any, Any]


def _created(user: User) -> v2.CreateUserResponse:
    return v2.CreateUserResponse(user=mapping.to_v2(user))


def _updated(user: User) -> v2.UpdateUserResponse:
    return v2.UpdateUserResponse(user=mapping.to_v2(user))


def _sent(user: User) -> v2.SendEmailVerificationResponse:
    response = v2.SendEmailVerificationResponse(email=user.email)
    response.expires_in.FromTimedelta(CODE_LIFETIME)
    return response


def _verified(user: User) -> v2.VerifyEmailResponse:
    return v2.VerifyEmailResponse(user=mapping.to_v2(user))


class UserServiceV2(user_pb2_grpc.UserServiceServicer):
    def __init__(self, users: UserReader, units: UnitsOfWork, clock: Clock, mailer: Mailer) -> None:
        self._users = users
        self._units = units
        self._clock = clock
        self._mailer = mailer

    async def CreateUser(
        self, request: v2.CreateUserRequest, context: Context
    ) -> v2.CreateUserResponse:
        command = handlers.RegisterUser(
            email=request.email,
            given_name=request.name.given_name,
            family_name=request.name.family_name,
        )
        return await answer_once(
            context,
            request,
            _created,
            v2.CreateUserResponse,
            lambda reply: handlers.register_user(command, self._units(reply), self._clock),
        )

    async def GetUser(self, request: v2.GetUserRequest, context: Context) -> v2.GetUserResponse:
        user = await handlers.get_user(mapping.user_id(request.user_id), self._users)
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
        page = await handlers.list_users(query, self._users)
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
        return await answer_once(
            context,
            request,
            _updated,
            v2.UpdateUserResponse,
            lambda reply: handlers.update_user(command, self._units(reply), self._clock),
        )

    async def SendEmailVerification(
        self, request: v2.SendEmailVerificationRequest, context: Context
    ) -> v2.SendEmailVerificationResponse:
        user_id = mapping.user_id(request.user_id)
        return await answer_once(
            context,
            request,
            _sent,
            v2.SendEmailVerificationResponse,
            lambda reply: handlers.send_email_verification(
                user_id, self._units(reply), self._clock, self._mailer
            ),
        )

    async def VerifyEmail(
        self, request: v2.VerifyEmailRequest, context: Context
    ) -> v2.VerifyEmailResponse:
        command = handlers.VerifyEmail(
            user_id=mapping.user_id(request.user_id),
            code=request.code,
            email=request.email or None,
        )
        return await answer_once(
            context,
            request,
            _verified,
            v2.VerifyEmailResponse,
            lambda reply: handlers.verify_email(
                command, self._units(reply), self._units(None), self._clock
            ),
        )
