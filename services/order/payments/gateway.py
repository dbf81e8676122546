"""`ProviderPaymentGateway`: the order context's `PaymentGateway` over the provider's HTTP API.

Every provider failure becomes one of ours: a decline is `PaymentDeclined`
(FAILED_PRECONDITION, reason PAYMENT_DECLINED); a timeout, a refused
connection, an E500 or an open circuit is `PaymentUnavailable` (UNAVAILABLE
with RetryInfo); an undocumented answer is logged in full and is
`PaymentUnavailable` too, its code never reaching a client. Only outages and
unknown answers count against the circuit breaker: a decline is the provider
working.

The provider's request reference is derived from ours (`reference`, stable
across retries of one idempotent call), hashed to the provider's alphabet
and length, so a retry after a timeout finds the first hold instead of
making a second one.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from protomesh.circuit_breaker import CircuitBreaker, CircuitOpen
from protomesh.telemetry.breaker_metrics import count_external_call
from services.order.domain import Money, PaymentAuthorization, PaymentDeclined, PaymentUnavailable
from services.order.payments import wire
from services.order.payments.transport import ProviderConnections, Unreachable

log = logging.getLogger("services.order.payments")
DEPENDENCY = "payments"


def request_ref(reference: str) -> str:
    """Our reference in the provider's terms: at most 64 hex characters, same in, same out."""
    return hashlib.sha256(reference.encode()).hexdigest()[: wire.MAX_REF]


class ProviderPaymentGateway:
    def __init__(
        self, base_url: str, *, timeout: float, breaker: CircuitBreaker, retry_after: float = 1.0
    ) -> None:
        self._connections = ProviderConnections(base_url)
        self._timeout = timeout
        self._breaker = breaker
        self._retry_after = retry_after

    async def authorize(self, amount: Money, *, reference: str) -> PaymentAuthorization:
        body = await self._call(
            "authorize",
            wire.AUTHORISE_PATH,
            wire.to_amount(amount),
            {wire.REQUEST_REF_HEADER: request_ref(reference)},
        )
        try:
            outcome = wire.outcome_of(body)
            if outcome is wire.Outcome.DECLINED:
                self._breaker.succeeded()
                count_external_call(DEPENDENCY, "authorize", "declined")
                raise PaymentDeclined()
            if outcome is not wire.Outcome.APPROVED:
                raise wire.UnknownAnswer(f"{outcome.value} to an authorization")
            held = wire.from_amount(body)
            if held != amount:
                raise wire.UnknownAnswer(f"held {held}, asked for {amount}")
            wire.parse_time(body.get("processed_at", ""))
            payment = PaymentAuthorization(wire.authorisation_id(body), held)
        except wire.UnknownAnswer as error:
            self._fail("authorize", "unknown_answer", f"{error}; the answer was {body!r}")
            raise PaymentUnavailable(self._retry_after) from None
        self._breaker.succeeded()
        count_external_call(DEPENDENCY, "authorize", "ok")
        return payment

    async def void(self, payment: PaymentAuthorization) -> None:
        try:
            body = await self._call("void", wire.void_path(payment.reference), {}, {})
            outcome = wire.outcome_of(body)
        except PaymentUnavailable:
            log.error("could not void payment %s: left for reconciliation", payment.reference)
            return
        except wire.UnknownAnswer as error:
            self._fail("void", "unknown_answer", f"{error}; the answer was {body!r}")
            log.error("could not void payment %s: left for reconciliation", payment.reference)
            return
        self._breaker.succeeded()
        count_external_call(DEPENDENCY, "void", outcome.value)
        if outcome is not wire.Outcome.VOIDED:
            log.error("void of payment %s answered %s", payment.reference, outcome.value)

    async def probe(self) -> None:
        """Readiness: raises unless the provider says it is UP (not through the breaker)."""
        answer = await self._connections.post_json(
            wire.HEALTH_PATH, None, headers={}, seconds=self._timeout
        )
        if not wire.is_up(answer):
            raise Unreachable(f"health answered {answer!r}")

    async def close(self) -> None:
        """Close the kept connections (at shutdown, after the last call)."""
        await self._connections.close()

    async def _call(
        self, operation: str, path: str, body: dict[str, str], headers: dict[str, str]
    ) -> dict[str, Any]:
        """The provider's answer; PaymentUnavailable without one (or with the circuit open)."""
        try:
            self._breaker.before_call()
        except CircuitOpen as open_circuit:
            count_external_call(DEPENDENCY, operation, "rejected_open")
            raise PaymentUnavailable(max(open_circuit.retry_after, self._retry_after)) from None
        try:
            answer = await self._connections.post_json(
                path, body, headers=headers, seconds=self._timeout
            )
        except Unreachable as error:
            self._fail(operation, "unavailable", str(error))
            raise PaymentUnavailable(self._retry_after) from None
        except BaseException:
            self._breaker.failed()  # cancelled mid-call: the trial (if any) must end
            raise
        if wire.is_outage(answer):
            self._fail(operation, "unavailable", "E500")
            raise PaymentUnavailable(self._retry_after)
        return answer

    def _fail(self, operation: str, outcome: str, detail: str) -> None:
        self._breaker.failed()
        count_external_call(DEPENDENCY, operation, outcome)
        log.warning("payment provider %s: %s (%s)", operation, outcome, detail)
