"""Rate limits per caller and per end user inside a service (protomesh.interceptors.rate_limits)."""

from __future__ import annotations

import pytest

from protomesh import errors
from protomesh.interceptors.rate_limits import RateLimitInterceptor
from protomesh.registry import CallLimits, ServiceLimits, TokenBucket
from tests.unit.runtime.interceptor_calls import Reply, call, wrapped

GET_USER = "/shop.user.v1.UserService/GetUser"
CREATE_USER = "/shop.user.v1.UserService/CreateUser"
HEALTH = "/grpc.health.v1.Health/Check"
TWO_A_MINUTE = TokenBucket(2, 60.0, 2)


def limited(**kinds: TokenBucket) -> RateLimitInterceptor:
    return RateLimitInterceptor(ServiceLimits(service=CallLimits(**kinds)))


async def outcomes(
    interceptor: RateLimitInterceptor, count: int, caller: str, end_user: str | None = None
) -> list[str]:
    seen = []
    for _ in range(count):
        try:
            await call(interceptor, GET_USER, caller=caller, end_user=end_user)
            seen.append("ok")
        except errors.ResourceExhausted:
            seen.append("refused")
    return seen


async def test_each_caller_has_a_bucket_of_its_own() -> None:
    interceptor = limited(per_caller=TWO_A_MINUTE)
    assert await outcomes(interceptor, 3, caller="order") == ["ok", "ok", "refused"]
    assert await outcomes(interceptor, 1, caller="bff") == ["ok"]


async def test_each_end_user_has_a_bucket_of_their_own_whoever_forwards_them() -> None:
    interceptor = limited(per_end_user=TWO_A_MINUTE)
    assert await outcomes(interceptor, 3, caller="edge", end_user="alice") == [
        "ok",
        "ok",
        "refused",
    ]
    assert await outcomes(interceptor, 2, caller="edge", end_user="bob") == ["ok", "ok"]
    # No end user (a service's own call): no end-user bucket to spend.
    assert await outcomes(interceptor, 3, caller="edge") == ["ok", "ok", "ok"]


async def test_a_refusal_says_when_to_retry_and_whose_quota_ran_out() -> None:
    interceptor = limited(per_caller=TokenBucket(1, 10.0, 1))
    await call(interceptor, GET_USER, caller="order")
    with pytest.raises(errors.ResourceExhausted) as refused:
        await call(interceptor, GET_USER, caller="order")
    assert refused.value.retry_after == pytest.approx(10.0, abs=0.5)
    (violation,) = refused.value.violations
    assert violation.subject == "caller:order"
    assert violation.description == "1 calls per 10s, burst 1, for the service"
    assert "caller order is over its limit" in refused.value.message


async def test_a_method_line_gives_that_method_a_budget_of_its_own() -> None:
    limits = ServiceLimits(
        service=CallLimits(per_caller=TWO_A_MINUTE),
        methods={
            "shop.user.v1.UserService/CreateUser": CallLimits(per_caller=TokenBucket(1, 60.0, 1))
        },
    )
    interceptor = RateLimitInterceptor(limits)
    await call(interceptor, CREATE_USER, caller="order")
    with pytest.raises(errors.ResourceExhausted) as refused:
        await call(interceptor, CREATE_USER, caller="order")
    assert refused.value.violations[0].description.endswith("shop.user.v1.UserService/CreateUser")
    # GetUser still has the whole service budget: CreateUser did not spend it.
    assert await outcomes(interceptor, 3, caller="order") == ["ok", "ok", "refused"]


async def test_health_and_unlimited_methods_are_not_wrapped() -> None:
    async def handler(request: Reply, context: object) -> Reply:
        return Reply()

    interceptor = limited(per_caller=TWO_A_MINUTE)
    assert (await wrapped(interceptor, HEALTH, handler)).unary_unary is handler
    only_create = RateLimitInterceptor(
        ServiceLimits(methods={"shop.user.v1.UserService/CreateUser": CallLimits(TWO_A_MINUTE)})
    )
    assert (await wrapped(only_create, GET_USER, handler)).unary_unary is handler
    assert not RateLimitInterceptor(ServiceLimits()).limits_anything
