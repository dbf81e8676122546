"""A closed-loop phase of the dashboard benchmark: calls per customer, timed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from protomesh_toolkit.bench.load import percentile

Call = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    latencies: tuple[float, ...]  # sorted
    failures: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0

    def row(self) -> str:
        if not self.latencies:
            return f"  {self.name:<8} no successful call ({self.failures} failed)"
        p50, p99 = (percentile(self.latencies, p) * 1000 for p in (50, 99))
        return (
            f"  {self.name:<8} {self.rate:9.0f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
            f"   ({len(self.latencies)} calls, {self.failures} failed)"
        )


async def run_phase(
    name: str, call: Call, customers: Sequence[str], *, concurrency: int, seconds: float, limit: int
) -> Phase:
    """Closed loop: `concurrency` workers take the customers in turn, up to `limit` or `seconds`."""
    order = itertools.islice(itertools.cycle(customers), limit)
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal failures
        for customer in order:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            try:
                await call(customer)
            except Exception:
                failures += 1
            else:
                latencies.append(time.perf_counter() - started)

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Phase(name, time.monotonic() - began, tuple(sorted(latencies)), failures)
