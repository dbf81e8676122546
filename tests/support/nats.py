"""A real NATS JetStream server for tests, restartable with its store kept.

    nats.stop(); ...; nats.start()   # same port, same streams and dedupe state

`connect()` gives a client that fails fast (tests must not hang on a dead
server); `unique_stream()` gives a test a stream of its own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from protomesh.bus.connection import connect_nats
from protomesh.bus.streams import DEAD_LETTERS, StreamSpec, ensure_streams
from protomesh_toolkit.embedded.nats import EmbeddedNats
from services.order.streams import ORDER_EVENTS
from services.user.streams import USER_EVENTS
from tests.support.ports import free_port

# Every stream the mesh's services declare, for tests that stand in for several of them.
MESH_STREAMS: tuple[StreamSpec, ...] = (ORDER_EVENTS, USER_EVENTS, DEAD_LETTERS)


@dataclass
class Nats:
    server: EmbeddedNats

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        self.server.kill()

    async def connect(self, name: str = "test") -> Client:
        return await connect_nats(self.url, name=name, max_reconnect_attempts=5)

    async def jetstream(self, name: str = "test") -> tuple[Client, JetStreamContext]:
        client = await self.connect(name)
        return client, client.jetstream()


def start_nats(directory: Path) -> Nats:
    server = EmbeddedNats(directory / "jetstream", free_port(), free_port())
    server.start()
    return Nats(server)


def unique_stream(context: str, duplicate_window: float = 600.0) -> StreamSpec:
    """A stream of its own for one test: `<CONTEXT>_<hex>` capturing `<context>_<hex>.events.>`.

    Returns the spec; publish on `spec.subjects[0]` prefixes. Tests sharing the
    session's server never see each other's messages.
    """
    suffix = secrets.token_hex(3)
    return StreamSpec(
        f"{context.upper()}_{suffix}",
        (f"{context}_{suffix}.events.>",),
        f"test stream for {context}",
        duplicate_window=duplicate_window,
    )


async def declare(client: Client, *specs: StreamSpec) -> None:
    await ensure_streams(client.jetstream(), specs)
