"""The provider's model ↔ ours: amounts, codes and timestamps (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.order.domain import Money
from services.order.payments import wire
from services.order.payments.gateway import request_ref


@pytest.mark.parametrize(
    ("money", "amount"),
    [
        (Money("EUR", 1250), "12.50"),
        (Money("EUR", 5), "0.05"),
        (Money("JPY", 1250), "1250"),
        (Money("USD", 2**63 - 1), "92233720368547758.07"),
    ],
)
def test_minor_units_become_major_unit_strings_and_back(money: Money, amount: str) -> None:
    body = wire.to_amount(money)
    assert body == {"amount": amount, "ccy": money.currency}
    assert wire.from_amount(body) == money


def test_an_amount_with_more_decimals_than_its_currency_is_not_understood() -> None:
    with pytest.raises(wire.UnknownAnswer):
        wire.from_amount({"amount": "12.505", "ccy": "EUR"})
    with pytest.raises(wire.UnknownAnswer):
        wire.from_amount({"amount": "12.50", "ccy": "XXX"})


def test_documented_codes_map_and_any_other_is_unknown() -> None:
    assert wire.outcome_of({"result_code": "AUTH_OK"}) is wire.Outcome.APPROVED
    assert wire.outcome_of({"result_code": "E102"}) is wire.Outcome.DECLINED
    for body in ({"result_code": "E777"}, {}, {"result_code": 102}):
        with pytest.raises(wire.UnknownAnswer):
            wire.outcome_of(body)


def test_the_provider_s_timestamps_are_read_as_utc() -> None:
    assert wire.parse_time("20261205T201500Z") == datetime(2026, 12, 5, 20, 15, tzinfo=UTC)
    with pytest.raises(wire.UnknownAnswer):
        wire.parse_time("2026-12-05T20:15:00Z")


def test_our_reference_becomes_a_stable_provider_reference_of_its_size() -> None:
    assert request_ref("key:a") == request_ref("key:a") != request_ref("key:b")
    assert len(request_ref("x" * 500)) <= wire.MAX_REF
