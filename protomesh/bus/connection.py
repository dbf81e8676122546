"""Connect to NATS the way every long-running part should: retry, reconnect, say so.

With `max_reconnect_attempts=-1` nats-py retries the first connection too, so
a worker started during an outage waits for NATS instead of crashing; after
that it reconnects forever. Every failed attempt, disconnect and reconnect is
logged at warning level: an outage must be visible in the logs.

A `tls://` URL connects over mutual TLS with the process's own mesh
certificate (`tls`): the server maps the certificate's SPIFFE id to a NATS
user with that identity's permissions, so a client without one is refused.
The files are re-read before each reconnect, so a rotated certificate is used
from the next connection on.
"""

from __future__ import annotations

import logging
import os
import ssl

from nats.aio.client import Client

from protomesh.tls.files import TlsConfigurationError, TlsFiles

log = logging.getLogger("protomesh.bus")

# Reconnect without limit: a worker stops by being stopped, not by giving up.
FOREVER = -1


def tls_context(files: TlsFiles, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """A client context with the identity's certificate; `context` is reloaded in place.

    The links are resolved first, so certificate and key come from one published version.
    """
    cert, key, ca = (os.path.realpath(path) for path in (files.cert, files.key, files.ca))
    if context is None:
        context = ssl.create_default_context(cafile=ca)
    else:
        context.load_verify_locations(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


async def connect_nats(
    url: str,
    *,
    name: str,
    tls: TlsFiles | None = None,
    reconnect_wait: float = 0.5,
    connect_timeout: float = 2.0,
    max_reconnect_attempts: int = FOREVER,
) -> Client:
    """A connected client; with the default it waits (retrying) until NATS answers."""

    async def on_error(error: Exception) -> None:
        log.warning("NATS error: %r", error, extra={"client": name, "nats_url": url})

    client = Client()
    context = None
    if url.startswith("tls://"):
        if tls is None:
            raise TlsConfigurationError(f"{url}: a tls:// NATS URL needs the process's TLS files")
        context = tls_context(tls)

    async def on_disconnected() -> None:
        if client.is_closed:  # our own close(), not an outage
            return
        log.warning("NATS disconnected; reconnecting", extra={"client": name, "nats_url": url})
        if context is not None and tls is not None:
            tls_context(tls, context)  # a rotated certificate, from the next connection on

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
            tls=context,
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
