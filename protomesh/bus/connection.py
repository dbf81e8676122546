"""Connect to NATS the way every long-running part should: retry, reconnect, say so.

With `max_reconnect_attempts=-1` nats-py retries the first connection too, so
a worker started during an outage waits for NATS instead of crashing; after
that it reconnects forever. Every failed attempt, disconnect and reconnect is
logged at warning level: an outage must be visible in the logs.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client

log = logging.getLogger("protomesh.bus")

# Reconnect without limit: a worker stops by being stopped, not by giving up.
FOREVER = -1


async def connect_nats(
    url: str,
    *,
    name: str,
    reconnect_wait: float = 0.5,
    connect_timeout: float = 2.0,
    max_reconnect_attempts: int = FOREVER,
) -> Client:
    """A connected client; with the default it waits (retrying) until NATS answers."""

    async def on_error(error: Exception) -> None:
        log.warning("NATS error: %r", error, extra={"client": name, "nats_url": url})

    client = Client()

    async def on_disconnected() -> None:
        if client.is_closed:  # our own close(), not an outage
            return
        log.warning("NATS disconnected; reconnecting", extra={"client": name, "nats_url": url})

    async def on_reconnected() -> None:
        log.warning("NATS reconnected", extra={"client": name, "nats_url": url})

    async def on_closed() -> None:
        log.info("NATS connection closed", extra={"client": name})

    try:
        await client.connect(
            url,
            name=name,
            allow_reconnect=True,
            max_reconnect_attempts=max_reconnect_attempts,
            # nats-py annotates these as int; fractions of a second work and keep tests quick.
            reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
            connect_timeout=connect_timeout,  # type: ignore[arg-type]
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
        )
    except BaseException:
        # Cancelled while retrying (the worker is stopping): stop the retries too.
        await client.close()
        raise
    log.info("NATS connected", extra={"client": name, "nats_url": url})
    return client
