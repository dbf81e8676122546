"""The provider's model and its translation to ours. Pure: no I/O.

Amounts: ours are integers in the currency's minor unit, the provider's are
decimal strings in major units with as many decimals as the currency has
(ISO 4217: JPY none, the others two). Codes: only the documented ones mean
something; anything else is an `UnknownAnswer`, logged and treated as a
failure, never shown to a client.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from protomesh.errors import InvalidArgument
from services.order.domain import Money

REQUEST_REF_HEADER = "X-Request-Ref"
AUTHORISE_PATH = "/v2/authorisations"
HEALTH_PATH = "/health"
# The longest request reference the provider takes.
MAX_REF = 64
# Decimals per currency where it is not two (ISO 4217 minor units).
_EXPONENTS = {"JPY": 0}


class Outcome(enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    OUTAGE = "outage"
    VOIDED = "voided"


# The provider's documented result codes.
_CODES = {
    "AUTH_OK": Outcome.APPROVED,
    "E102": Outcome.DECLINED,  # refused by the issuer
    "E500": Outcome.OUTAGE,  # the provider's own failure: retry later
    "VOID_OK": Outcome.VOIDED,
}


class UnknownAnswer(Exception):
    """An answer the provider's documentation does not explain (for logs only)."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def to_amount(money: Money) -> dict[str, str]:
    """Money(EUR, 1250) → {"amount": "12.50", "ccy": "EUR"}."""
    places = exponent(money.currency)
    major = Decimal(money.amount_minor).scaleb(-places)
    return {"amount": f"{major:.{places}f}", "ccy": money.currency}


def from_amount(body: dict[str, Any]) -> Money:
    """{"amount": "12.50", "ccy": "EUR"} → Money(EUR, 1250); UnknownAnswer if not exact."""
    try:
        currency = str(body["ccy"])
        minor = Decimal(str(body["amount"])).scaleb(exponent(currency))
    except (KeyError, ArithmeticError) as error:
        raise UnknownAnswer(f"no amount in {body!r}") from error
    if minor != minor.to_integral_value():
        raise UnknownAnswer(f"amount {body['amount']!r} has more decimals than {currency}")
    try:
        return Money(currency, int(minor))
    except InvalidArgument as error:  # a currency or a size we do not take: not the client's fault
        raise UnknownAnswer(f"amount {body['amount']!r} {currency!r}") from error


def parse_time(text: str) -> datetime:
    """ "20261205T201500Z" → an aware datetime in UTC."""
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError) as error:
        raise UnknownAnswer(f"timestamp {text!r}") from error


def outcome_of(body: dict[str, Any]) -> Outcome:
    code = body.get("result_code")
    if not isinstance(code, str) or code not in _CODES:
        raise UnknownAnswer(f"result code {code!r}")
    return _CODES[code]


def authorisation_id(body: dict[str, Any]) -> str:
    auth_id = body.get("auth_id")
    if not isinstance(auth_id, str) or not auth_id.isalnum():
        raise UnknownAnswer(f"auth_id {auth_id!r}")
    return auth_id


def void_path(auth_id: str) -> str:
    return f"{AUTHORISE_PATH}/{auth_id}/void"


def is_outage(body: dict[str, Any]) -> bool:
    """The provider's own failure, whatever the HTTP status said."""
    return body.get("result_code") == "E500"


def is_up(body: dict[str, Any]) -> bool:
    return body.get("status") == "UP"
