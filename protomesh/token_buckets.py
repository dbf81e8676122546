"""A token bucket per subject, in process memory, for rate limits inside a service.

    buckets = TokenBuckets(rate=5.0, burst=10)   # 5 calls a second, bursts of 10
    buckets.take("order")   # 0.0: admitted
    ...
    buckets.take("order")   # 0.18: refused; the next token arrives in 0.18 s

Memory stays bounded however many subjects call: past `capacity` the least
recently seen subject is forgotten, and comes back with a full bucket (Envoy's
local rate limit forgets the same way). Buckets live in one process: a service
with three replicas lets a subject spend three buckets, as Envoy's per-process
buckets do at the edge.

Pure on purpose (no grpc): the caller decides what a subject is and what a
refusal looks like. Not thread-safe: it runs on the server's event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_CAPACITY = 10_000  # subjects tracked per bucket kind; ~100 bytes each


class TokenBuckets:
    __slots__ = ("_buckets", "_clock", "burst", "capacity", "rate")

    def __init__(
        self,
        rate: float,
        burst: int,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or capacity < 1:
            raise ValueError("a bucket needs a positive rate, a burst and a capacity of 1 or more")
        self.rate = rate  # tokens per second
        self.burst = float(burst)
        self.capacity = capacity
        self._clock = clock
        # subject -> [tokens left, when they were counted]; a list so a hit updates in place.
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, subject: str) -> float:
        """Spend one of `subject`'s tokens: 0.0 if there was one, else the seconds until one."""
        now = self._clock()
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = self._buckets[subject] = [self.burst, now]
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(subject)
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)
