"""answer_once, the transport side of idempotency, over a fake call context."""

from __future__ import annotations

import pytest
from shop.user.v1 import user_pb2 as v1

from protomesh.errors import InvalidArgument
from protomesh.idempotency import AlreadyAnswered, IdempotentReply, answer_once
from tests.unit.runtime.fake_context import FakeContext

REQUEST = v1.CreateUserRequest(email="ada@example.com", display_name="Ada")


def respond(name: str) -> v1.CreateUserResponse:
    return v1.CreateUserResponse(user=v1.User(display_name=name))


def context(*metadata: tuple[str, str]) -> FakeContext:
    return FakeContext("protomesh.local", "edge", list(metadata))


async def test_without_a_key_the_use_case_runs_plainly() -> None:
    given: list[IdempotentReply[str] | None] = []

    async def use_case(reply: IdempotentReply[str] | None) -> str:
        given.append(reply)
        return "Ada"

    answer = await answer_once(context().typed, REQUEST, respond, v1.CreateUserResponse, use_case)
    assert (answer, given) == (respond("Ada"), [None])


async def test_a_key_gives_the_use_case_this_rpcs_wire_form_of_its_result() -> None:
    given: list[IdempotentReply[str] | None] = []

    async def use_case(reply: IdempotentReply[str] | None) -> str:
        given.append(reply)
        return "Ada"

    await answer_once(
        context(("idempotency-key", "k-1")).typed,
        REQUEST,
        respond,
        v1.CreateUserResponse,
        use_case,
    )
    [reply] = given
    assert reply is not None
    assert reply.call.key == "k-1"
    assert reply.encode("Ada") == respond("Ada").SerializeToString()


async def test_an_answered_call_gets_the_stored_reply_back_as_its_response() -> None:
    stored = respond("as first sent").SerializeToString()

    async def use_case(reply: IdempotentReply[str] | None) -> str:
        raise AlreadyAnswered(stored)

    answer = await answer_once(
        context(("idempotency-key", "k-2")).typed,
        REQUEST,
        respond,
        v1.CreateUserResponse,
        use_case,
    )
    assert answer.SerializeToString() == stored


async def test_a_malformed_key_is_refused_before_the_use_case_runs() -> None:
    ran: list[bool] = []

    async def use_case(reply: IdempotentReply[str] | None) -> str:
        ran.append(True)
        return "Ada"

    with pytest.raises(InvalidArgument):
        await answer_once(
            context(("idempotency-key", "has space")).typed,
            REQUEST,
            respond,
            v1.CreateUserResponse,
            use_case,
        )
    assert ran == []
