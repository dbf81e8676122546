"""The provider transport over kept-open HTTP/1.1 connections, against the sandbox's server
(in a thread) and a provider that closes idle connections: answers, errors, deadlines, reuse."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from protomesh_toolkit.payment_sandbox.server import SandboxServer
from services.order.payments.transport import ProviderConnections, Unreachable

ANSWER = b'{"status": "UP"}'


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    server = SandboxServer(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_calls_reuse_one_connection_and_read_json(sandbox: str) -> None:
    connections = ProviderConnections(sandbox, size=1)
    try:
        for _ in range(3):
            assert await connections.post_json("/health", None, headers={}, seconds=2) == {
                "status": "UP"
            }
        held = await connections.post_json(
            "/v2/authorisations",
            {"amount": "1.00", "ccy": "EUR"},
            headers={"x-request-ref": "ab12"},
            seconds=2,
        )
        assert held["result_code"] == "AUTH_OK"
    finally:
        await connections.close()


async def test_an_error_status_is_unreachable(sandbox: str) -> None:
    connections = ProviderConnections(sandbox)
    with pytest.raises(Unreachable, match="HTTP 404"):
        await connections.post_json("/nowhere", None, headers={}, seconds=2)
    await connections.close()


async def test_a_provider_slower_than_the_deadline_is_unreachable(sandbox: str) -> None:
    connections = ProviderConnections(sandbox)
    await connections.post_json(
        "/_control", {"mode": "slow", "count": 1, "delay": 1.0}, headers={}, seconds=2
    )
    with pytest.raises(Unreachable, match="no answer within"):
        await connections.post_json(
            "/v2/authorisations",
            {"amount": "1.00", "ccy": "EUR"},
            headers={"x-request-ref": "cd34"},
            seconds=0.2,
        )
    await connections.close()


class ClosingAfterEachAnswer:
    """Answers one request per connection, then closes it without saying so
    (no `connection: close`), as a provider dropping idle keep-alives does."""

    def __init__(self) -> None:
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(ANSWER)}\r\n\r\n".encode()
        writer.write(head + ANSWER)
        await writer.drain()
        writer.close()


@pytest.fixture
async def closing() -> AsyncIterator[tuple[str, ClosingAfterEachAnswer]]:
    provider = ClosingAfterEachAnswer()
    server = await asyncio.start_server(provider.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", provider
    finally:
        server.close()
        await server.wait_closed()


async def test_a_kept_connection_closed_by_the_provider_is_replaced(
    closing: tuple[str, ClosingAfterEachAnswer],
) -> None:
    url, provider = closing
    connections = ProviderConnections(url, size=1)
    for _ in range(3):
        assert await connections.post_json("/health", None, headers={}, seconds=2) == {
            "status": "UP"
        }
        await asyncio.sleep(0.05)  # the provider's close arrives
    assert provider.connections == 3
    await connections.close()
