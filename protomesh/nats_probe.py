"""Is a NATS server answering? A readiness probe that needs no client library.

A NATS server greets every new TCP connection with an `INFO {...}` line
before the client says anything, so opening a socket and reading one line
proves the server is up and speaking NATS, at the cost of one connection.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

DEFAULT_PORT = 4222


class NatsProbe:
    """Probe the first server of a NATS URL list (`nats://host:port[,nats://...]`)."""

    def __init__(self, url: str) -> None:
        first = urlsplit(url.split(",", 1)[0].strip())
        if not first.hostname:
            raise ValueError(f"{url!r} names no NATS host")
        self.host = first.hostname
        self.port = first.port or DEFAULT_PORT

    async def __call__(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            greeting = await reader.readline()
        finally:
            writer.close()
            await writer.wait_closed()
        if not greeting.startswith(b"INFO "):
            raise ConnectionError(f"{self.host}:{self.port} did not greet like a NATS server")
