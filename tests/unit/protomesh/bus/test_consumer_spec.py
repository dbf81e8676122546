from __future__ import annotations

import pytest
from nats.js.api import AckPolicy

from protomesh.bus.consumer import ConsumerSpec


def spec(**changes: object) -> ConsumerSpec:
    values: dict[str, object] = {"stream": "S", "durable": "d", "filter_subject": "s.>"}
    values.update(changes)
    return ConsumerSpec(**values)  # type: ignore[arg-type]


def test_retry_delays_follow_the_backoff_list_then_stay_at_its_last_value() -> None:
    backoff = spec(backoff=(0.1, 1.0, 5.0))
    assert [backoff.retry_delay(n) for n in (1, 2, 3, 4, 9)] == [0.1, 1.0, 5.0, 5.0, 5.0]
    assert spec(backoff=()).retry_delay(3) == 0.0


def test_the_declared_config_is_durable_explicit_and_one_delivery_over_our_limit() -> None:
    config = spec(max_deliver=4, ack_wait=12.0).consumer_config()
    assert (config.durable_name, config.name, config.filter_subject) == ("d", "d", "s.>")
    assert config.ack_policy == AckPolicy.EXPLICIT
    assert config.ack_wait == 12.0
    assert config.max_deliver == 5
    # Our backoff is applied through nak(delay); JetStream's would shorten ack_wait.
    assert config.backoff is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"max_deliver": 0}, "max_deliver"),
        ({"batch": 0}, "must be positive"),
        ({"fetch_wait": 0}, "must be positive"),
        ({"ack_wait": -1}, "must be positive"),
        ({"backoff": (-1.0,)}, "cannot be negative"),
    ],
)
def test_impossible_specs_are_refused(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**bad)
