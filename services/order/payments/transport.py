"""JSON calls to the provider over HTTP/1.1 keep-alive connections, on the event loop.

Every PlaceOrder holds a payment, so this call is on the order write path.
It used to be stdlib urllib in a worker thread: a new TCP connection per call
and a hop to asyncio's default executor, whose few threads (cores + 4) capped
the orders in flight and made the hold the longest wait of a PlaceOrder
(docs/performance.md). Here a few connections are kept open and reused, and
the exchange is plain asyncio streams: HTTP/1.1 with `content-length` or
chunked bodies is all a JSON API needs, and it is not worth a dependency.

The deadline (`seconds`) covers waiting for a connection, connecting, sending
and reading the answer; a call cut short closes its connection rather than
return one with half an answer in it. A kept connection the provider closed
while idle fails before any byte of answer arrives: the request is sent once
more, on a new connection. That is safe for this provider: an authorization
is idempotent by its `X-Request-Ref`, a void by its authorization id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_ANSWER = 1 << 20  # bytes; the provider's answers are a few hundred


class Unreachable(Exception):
    """No usable answer: refused, timed out, an HTTP error status, or not JSON."""


class _Stale(Exception):
    """A kept connection was closed by the provider before answering."""


class ProviderConnections:
    """Up to `size` open connections to one origin (`http://host:port` or https), reused."""

    def __init__(self, base_url: str, *, size: int = 16) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        self._authority = parts.netloc
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Stream] = []

    async def post_json(
        self, path: str, body: dict[str, Any] | None, *, headers: dict[str, str], seconds: float
    ) -> dict[str, Any]:
        """The provider's JSON object within `seconds`; POST `body`, or GET without one."""
        request = self._request(path, body, headers)
        try:
            async with asyncio.timeout(seconds), self._slots:
                status, data = await self._exchange(request)
        except TimeoutError:
            raise Unreachable(f"no answer within {seconds}s") from None
        except (OSError, asyncio.IncompleteReadError, _Stale, ValueError) as error:
            raise Unreachable(repr(error)) from error
        if not 200 <= status < 300:
            raise Unreachable(f"HTTP {status}")
        try:
            answer = json.loads(data)
        except ValueError as error:
            raise Unreachable(f"not JSON: {data[:200]!r}") from error
        if not isinstance(answer, dict):
            raise Unreachable(f"not a JSON object: {answer!r}")
        return answer

    async def close(self) -> None:
        while self._idle:
            _reader, writer = self._idle.pop()
            writer.close()

    def _request(self, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> bytes:
        data = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{'GET' if body is None else 'POST'} {self._prefix}{path} HTTP/1.1",
            f"host: {self._authority}",
            "content-type: application/json",
            "accept: application/json",
            f"content-length: {len(data)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send on a kept connection, or a new one when it turns out stale."""
        if self._idle:
            stream = self._idle.pop()
            try:
                return await self._over(stream, request, reused=True)
            except _Stale:
                pass  # closed by the provider while idle: nothing was answered
        stream = await asyncio.open_connection(self._host, self._port, ssl=self._tls)
        return await self._over(stream, request, reused=False)

    async def _over(self, stream: Stream, request: bytes, *, reused: bool) -> tuple[int, bytes]:
        reader, writer = stream
        kept = False
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                if reused:
                    raise _Stale()
                raise asyncio.IncompleteReadError(b"", None)
            status, keep_alive, data = await _answer(status_line, reader)
            if keep_alive:
                self._idle.append(stream)
                kept = True
            return status, data
        except (ConnectionResetError, BrokenPipeError) as error:
            if reused:
                raise _Stale() from error
            raise
        finally:
            if not kept:
                writer.close()


async def _answer(status_line: bytes, reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """(status, whether the connection may be reused, body) of one HTTP/1.1 response."""
    version, status, *_reason = status_line.decode("latin-1").split(" ", 2)
    fields: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    keep_alive = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return int(status), keep_alive, await _chunked(reader)
    if "content-length" in fields:
        length = int(fields["content-length"])
        if length > MAX_ANSWER:
            raise ValueError(f"an answer of {length} bytes")
        return int(status), keep_alive, await reader.readexactly(length)
    # No length: the body runs to the end of the connection, which cannot be kept.
    body = bytearray()
    while chunk := await reader.read(65536):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise ValueError("an answer over the limit")
    return int(status), False, bytes(body)


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readline()).split(b";", 1)[0], 16):
        if len(body) + size > MAX_ANSWER:
            raise ValueError("a chunked answer over the limit")
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # the chunk's CRLF
    with contextlib.suppress(asyncio.IncompleteReadError):
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
    return bytes(body)
