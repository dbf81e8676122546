"""The user context, seen from orders: does a customer exist? Asked over gRPC.

The channel comes from the registry (`protomesh.channels.channel_for`), so
the user service's replicas are found by name and balanced by health. Every
call has a deadline, never longer than what the incoming request has left.

Asked only for a customer the order context's own copy does not know yet
(`services.order.customer_check`). A circuit breaker stops asking a user
service that keeps failing: after `failure_threshold` calls in a row without
an answer (unreachable, too slow, failing), the next ones answer UNAVAILABLE
with RetryInfo at once for `reset_timeout` seconds instead of each waiting
out its deadline, then one trial call decides whether it is back.
"""

from __future__ import annotations

import uuid

import grpc
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v1 import user_pb2_grpc as user_v1_grpc

from protomesh.channels import call_timeout
from protomesh.circuit_breaker import CircuitBreaker, CircuitOpen
from protomesh.errors import Unavailable


class UserServiceCustomers:
    """CustomerCheck over shop.user.v1.UserService/GetUser."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout: float,
        retry_after: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ):
        self._users = user_v1_grpc.UserServiceStub(channel)
        self._timeout = timeout
        self._retry_after = retry_after
        self._breaker = breaker or CircuitBreaker("user-service")

    async def exists(self, customer_id: uuid.UUID) -> bool:
        try:
            self._breaker.before_call()
        except CircuitOpen as open_circuit:
            raise Unavailable(
                "the user service could not check the customer (it is not answering); retry later",
                retry_after=max(open_circuit.retry_after, self._retry_after),
            ) from None
        try:
            await self._users.GetUser(
                user_v1.GetUserRequest(user_id=str(customer_id)),
                timeout=call_timeout(self._timeout),
                # Ride out a reconnect (a restarted user replica) within the deadline
                # instead of failing at once while the channel is between attempts.
                wait_for_ready=True,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                self._breaker.succeeded()  # an answer: the service is there
                return False
            # Unreachable, too slow, overloaded or failing: no answer is not "no".
            self._breaker.failed()
            raise Unavailable(
                f"the user service could not check the customer ({error.code().name}); retry later",
                retry_after=self._retry_after,
            ) from None
        except BaseException:
            self._breaker.failed()  # cancelled mid-call: a half-open trial must end
            raise
        self._breaker.succeeded()
        return True
