"""Token buckets per subject (protomesh.token_buckets), on a clock the test moves."""

from __future__ import annotations

import pytest

from protomesh.token_buckets import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_subject_spends_its_burst_then_waits_for_the_next_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("order") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("order") == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("order") == pytest.approx(0.25)  # half a token has arrived
    clock.now += 0.25
    assert buckets.take("order") == 0.0


def test_subjects_have_buckets_of_their_own() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    assert buckets.take("order") == 0.0
    assert buckets.take("order") > 0
    assert buckets.take("bff") == 0.0


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("order")
    clock.now += 3600
    assert [buckets.take("order") > 0 for _ in range(3)] == [False, False, True]


def test_memory_is_bounded_by_forgetting_the_least_recently_seen() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, capacity=2, clock=Clock())
    for subject in ("a", "b"):
        buckets.take(subject)
    buckets.take("a")  # a is now the most recent; b the least
    buckets.take("c")
    assert len(buckets) == 2
    assert buckets.take("a") > 0  # still remembered: still empty
    assert buckets.take("b") == 0.0  # forgotten: back with a full bucket


def test_a_bucket_without_a_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBuckets(rate=0.0, burst=1)
