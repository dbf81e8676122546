"""The load generator of last resort: N concurrent asyncio clients in this process.

Used when h2load is not installed (CI machines need not have it). It shares
the machine's cores with the servers it measures, and a Python client costs
about as much CPU per request as a Python server, so its absolute figures
are low; it is bounded in time and in requests like h2load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import grpc
import uvloop

from protomesh.tls.client import channel_credentials, server_name_options
from protomesh_toolkit.bench.load import Load, Measurement, Target

Call = Callable[[], Awaitable[bool]]  # one request; True when it succeeded
CALL_TIMEOUT = 5.0


def run_python(target: Target, load: Load) -> Measurement:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_measure(target, load))


async def _measure(target: Target, load: Load) -> Measurement:
    async with AsyncExitStack() as stack:
        calls = [await _client(stack, target) for _ in range(load.connections)]
        await _phase(calls, load.warmup, load.max_requests)
        started = time.perf_counter()
        latencies, failures = await _phase(calls, load.seconds, load.max_requests)
        seconds = time.perf_counter() - started
    return Measurement("python", seconds, tuple(sorted(latencies)), failures, len(latencies))


async def _phase(calls: list[Call], seconds: float, max_requests: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    end = time.perf_counter() + seconds

    async def worker(call: Call) -> None:
        nonlocal failures
        while (now := time.perf_counter()) < end and len(latencies) + failures < max_requests:
            if await call():
                latencies.append(time.perf_counter() - now)
            else:
                failures += 1

    await asyncio.gather(*(worker(call) for call in calls))
    return latencies, failures


async def _client(stack: AsyncExitStack, target: Target) -> Call:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if target.grpc_request is not None:
        # A subchannel pool per channel: one connection per client, like h2load's.
        options: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1)]
        if target.tls is None:
            channel = grpc.aio.insecure_channel(f"{host}:{port}", options=options)
        else:
            if target.server_name:
                options += server_name_options(target.server_name)
            credentials = channel_credentials(target.tls)
            channel = grpc.aio.secure_channel(f"{host}:{port}", credentials, options=options)
        stack.push_async_callback(channel.close)
        return _grpc_call(channel, parts.path, target.grpc_request)
    connection = _HttpConnection(host, port, parts.path, target)
    stack.push_async_callback(connection.close)
    return connection.call


def _grpc_call(channel: grpc.aio.Channel, method: str, request: bytes) -> Call:
    multicallable: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        method  # no serializers: bytes in, bytes out
    )

    async def call() -> bool:
        try:
            await multicallable(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError:
            return False
        return True

    return call


class _HttpConnection:
    """Just enough HTTP/1.1 for one keep-alive request at a time (a GET, or the target's)."""

    def __init__(self, host: str, port: int, path: str, target: Target) -> None:
        self.host, self.port = host, port
        headers = [("Host", f"{host}:{port}"), *target.headers]
        if target.body is not None:
            headers.append(("Content-Length", str(len(target.body))))
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        start = f"{target.http_method} {path} HTTP/1.1\r\n{head}\r\n"
        self.request = start.encode() + (target.body or b"")
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self) -> bool:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                if self.streams is None:
                    self.streams = await asyncio.open_connection(self.host, self.port)
                reader, writer = self.streams
                writer.write(self.request)
                status, keep_alive = await read_response(reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            return False
        if not keep_alive:
            await self.close()
        return status == 200

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status, and whether the connection stays open; the body is read and dropped."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in head[1:] if line)
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"
