"""Readiness: SERVING only while every dependency answers.

Liveness and readiness differ: the process stays up when PostgreSQL goes
away, but it reports NOT_SERVING so Envoy and Kubernetes stop sending it
traffic, and SERVING again as soon as the dependency is back.

Some dependencies a service can serve without: NATS behind an outbox (writes
commit, events wait). Their checks are `required=False`: each is reported
under its own health name (`grpc.health.v1` service "nats"), honestly, and
never takes the service out of rotation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from grpc_health.v1 import health, health_pb2

log = logging.getLogger("protomesh.readiness")

# While a required dependency is down, look again this often (or at the interval,
# when shorter): a service is back in rotation within a quarter of a second of its
# database, not up to a whole interval later, while every call meanwhile is refused
# with UNAVAILABLE. A check of a dead dependency is a refused connect: cheap.
RECHECK_WHILE_FAILING = 0.25  # seconds


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe of one dependency; it must answer within `timeout` seconds."""

    name: str
    probe: Callable[[], Awaitable[None]]
    timeout: float = 1.0
    required: bool = True  # False: reported under `name` only, never NOT_SERVING overall


class ReadinessMonitor:
    def __init__(
        self,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        checks: Sequence[ReadinessCheck],
        interval: float,
    ) -> None:
        self._health = health_servicer
        self._names = ["", *service_names]
        self._checks = list(checks)
        self._interval = interval
        self._failing: set[str] | None = None
        self._optional_failing: set[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def failing(self) -> frozenset[str]:
        """The required dependencies down at the last check (none before the first)."""
        return frozenset(self._failing or ())

    async def check_once(self) -> bool:
        results = await asyncio.gather(*(self._run(c) for c in self._checks))
        down = [check for check, ok in zip(self._checks, results, strict=True) if not ok]
        await self._report_optional({c.name for c in down if not c.required})
        failing = {check.name for check in down if check.required}
        if failing != self._failing:
            if failing:
                log.warning("not ready: %s unavailable", ", ".join(sorted(failing)))
            else:
                log.info("ready")
            self._failing = failing
            status = (
                health_pb2.HealthCheckResponse.NOT_SERVING
                if failing
                else health_pb2.HealthCheckResponse.SERVING
            )
            for name in self._names:
                await self._health.set(name, status)
        return not failing

    async def _report_optional(self, failing: set[str]) -> None:
        if failing == self._optional_failing:
            return
        for check in self._checks:
            if check.required:
                continue
            if check.name in failing:
                log.warning("%s unavailable; serving without it", check.name)
            elif self._optional_failing and check.name in self._optional_failing:
                log.info("%s available again", check.name)
            status = (
                health_pb2.HealthCheckResponse.NOT_SERVING
                if check.name in failing
                else health_pb2.HealthCheckResponse.SERVING
            )
            await self._health.set(check.name, status)
        self._optional_failing = failing

    async def _run(self, check: ReadinessCheck) -> bool:
        try:
            async with asyncio.timeout(check.timeout):
                await check.probe()
        except Exception as error:  # any failure of a probe means "not ready"
            log.debug("readiness check %s failed: %r", check.name, error)
            return False
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="readiness")

    def next_check_in(self) -> float:
        """Seconds until the next check: sooner while a required dependency is down."""
        if self._failing:
            return min(self._interval, RECHECK_WHILE_FAILING)
        return self._interval

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.next_check_in())
            await self.check_once()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
