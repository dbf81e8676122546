"""NATS is zero-trust too: mutual TLS, a user per mesh identity, permissions per context.

A real nats-server runs the configuration the local cluster and compose run
(`protomesh_toolkit/embedded/nats_auth.py`), with the tests' mesh CA. A client
without a mesh certificate, or with one no user names, cannot connect; the
order service may not publish a user event; an event forged without
credentials never reaches a consumer, while a real one does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from protomesh.bus.connection import connect_nats, tls_context
from protomesh.bus.streams import DEAD_LETTERS, ensure_streams
from protomesh.registry import load_mesh
from protomesh_toolkit.embedded.nats import EmbeddedNats
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY, server_config
from services.order.streams import ORDER_EVENTS
from services.user.streams import USER_EVENTS
from tests.support import mesh_tls
from tests.support.mesh_tls import STRANGER
from tests.support.ports import free_port

pytestmark = pytest.mark.integration
USER_EVENT = "user.events.v1.UserProfileChanged"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    directory = tmp_path_factory.mktemp("nats-zero-trust")
    port, monitor = free_port(), free_port()
    config = server_config(
        load_mesh(),
        host="127.0.0.1",
        port=port,
        monitor_port=monitor,
        store_dir=directory / "jetstream",
        tls=mesh_tls.files(SERVER_IDENTITY),
    )
    running = EmbeddedNats(directory / "jetstream", port, monitor, config=config)
    running.start()
    yield running
    running.stop()


def url(server: EmbeddedNats) -> str:
    return f"tls://127.0.0.1:{server.port}"


async def connect_as(server: EmbeddedNats, identity: str) -> Client:
    return await connect_nats(
        url(server), name=identity, tls=mesh_tls.files(identity), max_reconnect_attempts=0
    )


@pytest.fixture
async def streams(server: EmbeddedNats) -> None:
    """Each context's stream, declared by its own service's identity (as its relay does)."""
    for identity, stream in (("user", USER_EVENTS), ("order", ORDER_EVENTS)):
        client = await connect_as(server, identity)
        try:
            await ensure_streams(client.jetstream(), [stream, DEAD_LETTERS])
        finally:
            await client.close()


async def refused_at_connect(server: EmbeddedNats, identity: str | None) -> str:
    """How the server refused a client with `identity`'s certificate; "" if it admitted it.

    None: a client that trusts the mesh CA but has no certificate of its own.
    """
    if identity is None:
        context = ssl.create_default_context(cafile=str(mesh_tls.files().ca))
    else:
        context = tls_context(mesh_tls.files(identity))
    try:
        client = await asyncio.wait_for(
            nats.connect(
                url(server),
                tls=context,
                allow_reconnect=False,
                connect_timeout=2,
                max_reconnect_attempts=0,
            ),
            10,
        )
    except (nats.errors.Error, OSError) as error:
        return str(error) or type(error).__name__
    await client.close()
    return ""


async def test_a_client_without_a_mesh_certificate_or_user_is_refused(
    server: EmbeddedNats,
) -> None:
    assert await refused_at_connect(server, None)  # no client certificate
    assert "Authorization Violation" in await refused_at_connect(server, STRANGER)
    assert await refused_at_connect(server, "order") == ""  # a mesh service: admitted


async def stored(server: EmbeddedNats, stream: str) -> int:
    operator = await connect_as(server, "operator")
    try:
        return int((await operator.jetstream().stream_info(stream)).state.messages)
    finally:
        await operator.close()


async def test_the_order_service_cannot_publish_a_user_event(
    server: EmbeddedNats, streams: None
) -> None:
    before = await stored(server, USER_EVENTS.name)
    violations: list[str] = []

    async def on_error(error: Exception) -> None:
        violations.append(str(error))

    order = await nats.connect(
        url(server),
        tls=tls_context(mesh_tls.files("order")),
        error_cb=on_error,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )
    try:
        with pytest.raises(nats.errors.TimeoutError):  # JetStream never acknowledges it
            await order.jetstream().publish(USER_EVENT, b"forged", timeout=1)
        own = await order.jetstream().publish("order.events.v1.OrderPlaced", b"real", timeout=5)
    finally:
        await order.close()
    assert own.stream == ORDER_EVENTS.name  # its own context's subject: stored
    assert any("permissions violation for publish" in v for v in violations), violations
    assert await stored(server, USER_EVENTS.name) == before


async def test_a_forged_event_never_reaches_a_consumer_and_a_real_one_does(
    server: EmbeddedNats, streams: None, tmp_path: Path
) -> None:
    order = await connect_as(server, "order")  # the consumer of user events
    try:
        js = order.jetstream()
        durable = f"customers-{tmp_path.name[-8:]}".replace("_", "-")
        await js.add_consumer(
            USER_EVENTS.name, ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.NEW)
        )
        subscription = await js.pull_subscribe_bind(durable=durable, stream=USER_EVENTS.name)

        assert await refused_at_connect(server, None)  # the forger cannot even connect
        with pytest.raises(nats.errors.TimeoutError):
            await subscription.fetch(1, timeout=0.5)

        user = await connect_as(server, "user")  # the context that owns the subject
        try:
            await user.jetstream().publish(USER_EVENT, b"real", timeout=5)
        finally:
            await user.close()
        received = await asyncio.wait_for(subscription.fetch(1, timeout=5), 10)
        assert [m.data for m in received] == [b"real"]
        await received[0].ack()
    finally:
        await order.close()
