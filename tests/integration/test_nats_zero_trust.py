"""NATS is zero-trust too: mutual TLS, a user per mesh identity, permissions per context.

A real nats-server runs the configuration the local cluster and compose run
(`protomesh_toolkit/embedded/nats_auth.py`), with the tests' mesh CA. A client
without a mesh certificate, or with one no user names, cannot connect; the
order service may not publish a user event; an event forged without
credentials never reaches a consumer, while a real one does; a service
consumes only the streams mesh.yaml says it reads; bff keeps its KV bucket to
itself; the CDC worker publishes its context's changes and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy, KeyValueConfig

from protomesh.bus.connection import connect_nats, tls_context
from protomesh.bus.streams import DEAD_LETTERS, ensure_streams
from protomesh.cdc.naming import changes_stream
from protomesh.registry import load_mesh
from protomesh_toolkit.embedded.nats import EmbeddedNats
from protomesh_toolkit.embedded.nats_auth import SERVER_IDENTITY, server_config
from services.bff.config import SHARED_CACHE_BUCKET
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


async def violated(
    server: EmbeddedNats, identity: str, attempt: Callable[[Client], Awaitable[object]]
) -> list[str]:
    """The permission violations `identity`'s client met while making `attempt`."""
    violations: list[str] = []

    async def on_error(error: Exception) -> None:
        violations.append(str(error))

    client = await nats.connect(
        url(server),
        tls=tls_context(mesh_tls.files(identity)),
        error_cb=on_error,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )
    try:
        with contextlib.suppress(nats.errors.TimeoutError, nats.js.errors.Error):
            await attempt(client)
        await client.flush(timeout=2)
    finally:
        await client.close()
    return violations


async def test_a_service_consumes_only_the_streams_mesh_yaml_says_it_reads(
    server: EmbeddedNats, streams: None, tmp_path: Path
) -> None:
    durable = f"probe-{tmp_path.name[-8:]}".replace("_", "-")

    def consumer_on(stream: str) -> Callable[[Client], Awaitable[object]]:
        async def attempt(client: Client) -> object:
            config = ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.NEW)
            return await client.jetstream(timeout=1).add_consumer(stream, config)

        return attempt

    # order consumes user events only: a consumer on its own or another stream is refused.
    assert await violated(server, "order", consumer_on(USER_EVENTS.name)) == []
    refused = await violated(server, "order", consumer_on(ORDER_EVENTS.name))
    assert any("permissions violation for publish" in v for v in refused), refused
    # reporting reads both contexts' events; the CDC worker reads none.
    for stream in (ORDER_EVENTS.name, USER_EVENTS.name):
        assert await violated(server, "reporting", consumer_on(stream)) == []
    assert await violated(server, "order-cdc", consumer_on(USER_EVENTS.name))


async def test_bff_keeps_its_cache_bucket_and_follows_events_with_ordered_consumers(
    server: EmbeddedNats, streams: None
) -> None:
    async def cache_and_follow(client: Client) -> object:
        js = client.jetstream(timeout=2)
        bucket = await js.create_key_value(KeyValueConfig(bucket=SHARED_CACHE_BUCKET, ttl=60))
        await bucket.put("dashboard.someone", b"cached")
        assert (await bucket.get("dashboard.someone")).value == b"cached"
        follow = await js.subscribe(
            "order.events.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        await follow.unsubscribe()
        return None

    assert await violated(server, "bff", cache_and_follow) == []

    async def write_the_bucket(client: Client) -> object:
        bucket = await client.jetstream(timeout=1).key_value(SHARED_CACHE_BUCKET)
        return await bucket.put("dashboard.someone", b"poisoned")

    refused = await violated(server, "order", write_the_bucket)  # not its bucket
    assert any("permissions violation for publish" in v for v in refused), refused


async def test_the_cdc_worker_publishes_its_contexts_changes_and_nothing_else(
    server: EmbeddedNats,
) -> None:
    async def changes(client: Client) -> object:
        js = client.jetstream(timeout=2)
        await ensure_streams(js, [changes_stream("order")])
        return await js.publish("order.changes.v1.orders", b"change", timeout=5)

    assert await violated(server, "order-cdc", changes) == []

    async def an_event(client: Client) -> object:
        return await client.jetstream().publish("order.events.v1.OrderPlaced", b"x", timeout=1)

    refused = await violated(server, "order-cdc", an_event)
    assert any("permissions violation for publish" in v for v in refused), refused
