"""Tier 2 of a cache: a JetStream key-value bucket every replica reads and writes.

The bucket is created (or found) with a TTL, so an entry nobody evicts still
ages out, and history 1, since only the latest value matters. The tier is an
optimisation, never a dependency: until it is attached, while NATS is away,
or when an operation fails or takes longer than `timeout`, a read is a miss
and a write or delete is skipped. The first failure is logged ("serving from
tier 1 and the backends") and counted; then the tier is left alone for
`retry_after` seconds, so an outage costs a request nothing rather than a
timeout each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from protomesh.telemetry.cache_metrics import count_shared_failure, set_shared_available

log = logging.getLogger("protomesh.cache")
Result = TypeVar("Result")


class SharedTier(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...


class NoSharedTier:
    """A process without a shared tier: every read misses."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def put(self, key: str, value: bytes) -> None:
        return None

    async def delete(self, key: str) -> None:
        return None


class KeyValueTier:
    """A `SharedTier` over the JetStream KV bucket `bucket` (keys: `[-/_=.a-zA-Z0-9]+`)."""

    def __init__(
        self, bucket: str, *, ttl: float, timeout: float = 0.25, retry_after: float = 2.0
    ) -> None:
        self.bucket = bucket
        self.ttl = ttl
        self._timeout = timeout
        self._retry_after = retry_after
        self._kv: KeyValue | None = None
        self._resting_until = 0.0
        set_shared_available(False)

    async def attach(self, nats: NatsClient) -> None:
        """Create the bucket, or bind to it when another replica already has."""
        js = nats.jetstream()
        self._kv = await js.create_key_value(bucket=self.bucket, ttl=self.ttl, history=1)
        self._resting_until = 0.0
        set_shared_available(True)
        log.info("shared cache tier attached", extra={"bucket": self.bucket, "ttl": self.ttl})

    def detach(self) -> None:
        self._kv = None
        set_shared_available(False)

    async def get(self, key: str) -> bytes | None:
        kv = self._usable()
        if kv is None:
            return None
        try:
            entry = await self._bounded(kv.get(key), "get")
        except NotFoundError:  # never written, deleted (evicted) or aged out
            return None
        except _Skipped:
            return None
        return entry.value

    async def put(self, key: str, value: bytes) -> None:
        kv = self._usable()
        if kv is not None:
            with contextlib.suppress(_Skipped):
                await self._bounded(kv.put(key, value), "put")

    async def delete(self, key: str) -> None:
        kv = self._usable()
        if kv is not None:
            with contextlib.suppress(_Skipped):
                await self._bounded(kv.delete(key), "delete")

    def _usable(self) -> KeyValue | None:
        if self._kv is None or time.monotonic() < self._resting_until:
            return None
        return self._kv

    async def _bounded(self, operation: Awaitable[Result], name: str) -> Result:
        try:
            result = await asyncio.wait_for(operation, self._timeout)
        except NotFoundError:
            raise
        except Exception as error:
            self._fail(name, error)
            raise _Skipped from None
        if self._resting_until:
            self._resting_until = 0.0
            set_shared_available(True)
            log.warning("shared cache tier answers again", extra={"bucket": self.bucket})
        return result

    def _fail(self, operation: str, error: Exception) -> None:
        count_shared_failure(operation)
        if not self._resting_until:
            set_shared_available(False)
            log.warning(
                "shared cache tier unavailable (%s: %r): serving from tier 1 and the backends",
                operation,
                error,
                extra={"bucket": self.bucket},
            )
        self._resting_until = time.monotonic() + self._retry_after


class _Skipped(Exception):
    """The operation failed and was counted: treat it as a miss or a no-op."""
