"""A client channel that moves to a fresh connection when its certificate is rotated.

grpc's client credentials are fixed when a channel is made, and a
connection keeps the certificate it was opened with. Stubs, though, are made
once in a composition root and hold the channel for the process's life. So
this channel wraps the real one: before a unary call it checks (at most
every CHECK_INTERVAL seconds, three `stat`s) whether the certificate files
changed, and if they did, makes a new channel with the new certificate and
sends new calls there. The old channel is closed once its calls have had
`DRAIN_SECONDS` to finish, so a rotation fails no call in flight.

Streaming calls use the channel current when the stub was made (our APIs
are unary; a long stream outlives a certificate anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import grpc

from protomesh.tls.files import TlsFiles

CHECK_INTERVAL = 1.0
DRAIN_SECONDS = 30.0


class RotatingChannel(grpc.aio.Channel):
    def __init__(self, connect: Callable[[], grpc.aio.Channel], files: TlsFiles) -> None:
        self._connect = connect
        self._files = files
        self._seen = files.fingerprint()
        self._current = connect()
        self._checked = time.monotonic()
        self._retiring: dict[asyncio.Task[None], grpc.aio.Channel] = {}

    def current(self) -> grpc.aio.Channel:
        """The channel new calls go to, renewed first if the certificate changed."""
        now = time.monotonic()
        if now - self._checked < CHECK_INTERVAL:
            return self._current
        self._checked = now
        try:
            seen = self._files.fingerprint()
        except OSError:
            return self._current  # mid-swap or gone: keep what works
        if seen != self._seen:
            self._seen = seen
            old, self._current = self._current, self._connect()
            task = asyncio.get_running_loop().create_task(old.close(DRAIN_SECONDS))
            self._retiring[task] = old
            task.add_done_callback(lambda done: self._retiring.pop(done, None))
        return self._current

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        return _RotatingUnaryUnary(self, method, request_serializer, response_deserializer)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._current.unary_stream(*args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return self._current.stream_unary(*args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._current.stream_stream(*args, **kwargs)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._current.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._current.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._current.channel_ready()

    async def close(self, grace: float | None = None) -> None:
        """Close the current channel and any still draining, all within `grace`."""
        retiring = list(self._retiring.items())
        for task, _ in retiring:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(old.close(grace) for _, old in retiring), self._current.close(grace))

    async def __aenter__(self) -> RotatingChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()


class _RotatingUnaryUnary(grpc.aio.UnaryUnaryMultiCallable[Any, Any]):
    """A stub's handle on one method: each call goes to the owner's current channel."""

    def __init__(
        self,
        owner: RotatingChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._owner = owner
        self._method = method
        self._codecs = (serializer, deserializer)
        self._channel: grpc.aio.Channel | None = None
        self._callable: grpc.aio.UnaryUnaryMultiCallable[Any, Any] | None = None

    def __call__(self, request: Any, **kwargs: Any) -> grpc.aio.UnaryUnaryCall[Any, Any]:
        channel = self._owner.current()
        if channel is not self._channel or self._callable is None:
            self._channel = channel
            self._callable = channel.unary_unary(self._method, *self._codecs)
        return self._callable(request, **kwargs)
