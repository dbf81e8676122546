"""Where the limits sit in the server chain, and that unset limits cost no interceptor."""

from __future__ import annotations

from protomesh.authz import CallerPolicy
from protomesh.interceptors import server_chain
from protomesh.interceptors.authorization import AuthorizationInterceptor
from protomesh.interceptors.call_frame import CallFrameInterceptor
from protomesh.interceptors.decoding import DecodingInterceptor
from protomesh.interceptors.end_user_policy import EndUserPolicyInterceptor, RoutePolicies
from protomesh.interceptors.rate_limits import RateLimitInterceptor
from protomesh.interceptors.shedding import LoadShedder
from protomesh.registry import CallLimits, ServiceLimits, TokenBucket


def kinds(limits: ServiceLimits) -> list[type]:
    chain = server_chain(
        domain="user.protomesh",
        default_timeout=5.0,
        validators={},
        callers=CallerPolicy("protomesh.local"),
        routes=RoutePolicies(None),
        limits=limits,
    )
    return [type(interceptor) for interceptor in chain]


def test_shedding_comes_first_and_rate_limits_right_after_both_authorizations() -> None:
    limits = ServiceLimits(8, CallLimits(per_caller=TokenBucket(10, 1.0, 10)))
    chain = kinds(limits)
    assert chain[:2] == [LoadShedder, CallFrameInterceptor]
    authorizations = chain.index(AuthorizationInterceptor)
    # between the two authorizations only the request's decoding, which spends no budget
    assert chain[authorizations + 1] is DecodingInterceptor
    assert chain[authorizations + 2] is EndUserPolicyInterceptor
    assert chain[authorizations + 3] is RateLimitInterceptor


def test_unset_limits_put_nothing_in_the_chain() -> None:
    chain = kinds(ServiceLimits())
    assert LoadShedder not in chain
    assert RateLimitInterceptor not in chain
