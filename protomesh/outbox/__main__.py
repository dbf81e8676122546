"""`python -m protomesh.outbox`: run one outbox relay on its own until SIGTERM.

    python -m protomesh.outbox --dsn postgresql://order_svc@127.0.0.1:55432/postgres \\
        --schema orders --nats-url nats://127.0.0.1:4222

Every flag has an `OUTBOX_RELAY_<NAME>` variable (flags win); the password comes
from `OUTBOX_RELAY_DATABASE_PASSWORD_FILE`, never from a flag. Several relays
may run against one outbox: they share the work without publishing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from protomesh import logs, runner
from protomesh.bus.streams import StreamSpec, events_stream
from protomesh.config import ConfigError, load_config
from protomesh.outbox.relay import OutboxDatabase, OutboxRelay
from protomesh.outbox.settings import PREFIX, RelayConfig

log = logging.getLogger("protomesh.outbox")


def _arguments(argv: list[str] | None) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="python -m protomesh.outbox", description=__doc__)
    parser.add_argument("--dsn", help="the owning service's DSN (OUTBOX_RELAY_DATABASE_URL)")
    parser.add_argument("--schema", help="the outbox's schema (OUTBOX_RELAY_DATABASE_SCHEMA)")
    parser.add_argument("--nats-url", help="NATS server URL (OUTBOX_RELAY_NATS_URL)")
    parser.add_argument("--name", help="client name (OUTBOX_RELAY_NAME)")
    given = vars(parser.parse_args(argv))
    keys = {"dsn": "DATABASE_URL", "schema": "DATABASE_SCHEMA", "nats_url": "NATS_URL"}
    return {
        PREFIX + keys.get(flag, flag.upper()): value
        for flag, value in given.items()
        if value is not None
    }


def _streams(contexts: tuple[str, ...]) -> list[StreamSpec]:
    """The event streams of the contexts whose outbox this relay drains."""
    return [events_stream(context) for context in contexts]


async def _serve(config: RelayConfig, streams: list[StreamSpec]) -> None:
    relay = OutboxRelay(
        OutboxDatabase(config.database_url, config.database_password, config.database_schema),
        config.nats_url,
        config,
        streams=streams,
        name=config.name,
        tls=config.tls,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await relay.start()
    await stop.wait()
    log.info("signal received, stopping the relay")
    await relay.stop()


def main(argv: list[str] | None = None) -> None:
    try:
        config = load_config(RelayConfig, PREFIX, {**os.environ, **_arguments(argv)})
        streams = _streams(config.streams)
    except ConfigError as error:
        print(f"outbox relay: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure("outbox-relay", config.log_level, pretty=config.log_pretty or None)
    log.info("starting", extra={"config": repr(config)})
    runner.run(lambda: _serve(config, streams))


if __name__ == "__main__":
    main()
