"""`python -m protomesh.cdc`: run one change-capture worker until SIGTERM.

    python -m protomesh.cdc --context order --tables orders=shop.order.changes.v1.OrderChanged \\
        --dsn postgresql://order_cdc@127.0.0.1:55432/postgres --schema orders

Every flag has a `CDC_<NAME>` variable (flags win); passwords come from
`CDC_DATABASE_PASSWORD_FILE`, never from a flag. The worker holds no admin
password: its role, grants, publication and slot are made beforehand by
`protomesh db provision --cdc` (docs/cdc.md); until they exist it waits and
retries. With `CDC_TLS_*_PATH` it connects to a tls:// NATS with its own
certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from protomesh import logs, runner
from protomesh.cdc.capture import CaptureDatabase, ChangeCapture
from protomesh.cdc.naming import CaptureNames
from protomesh.cdc.settings import PREFIX, CaptureConfig
from protomesh.config import ConfigError, load_config
from protomesh.telemetry.exposition import serve_metrics

log = logging.getLogger("protomesh.cdc")


def _arguments(argv: list[str] | None) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="python -m protomesh.cdc", description=__doc__)
    parser.add_argument("--context", help="the context whose tables are watched (CDC_CONTEXT)")
    parser.add_argument("--tables", help="TABLE=proto.Message,... (CDC_TABLES)")
    parser.add_argument("--dsn", help="the worker role's DSN (CDC_DATABASE_URL)")
    parser.add_argument("--schema", help="the watched tables' schema (CDC_DATABASE_SCHEMA)")
    parser.add_argument("--nats-url", help="NATS server URL (CDC_NATS_URL)")
    parser.add_argument("--metrics-port", help="Prometheus /metrics port (CDC_METRICS_PORT)")
    parser.add_argument("--name", help="client name (CDC_NAME)")
    given = vars(parser.parse_args(argv))
    keys = {"dsn": "DATABASE_URL", "schema": "DATABASE_SCHEMA"}
    return {
        PREFIX + keys.get(flag, flag.upper()): value
        for flag, value in given.items()
        if value is not None
    }


async def _serve(config: CaptureConfig, tables: dict[str, str]) -> None:
    metrics = None
    if config.metrics_port is not None:
        metrics = serve_metrics(config.host, config.metrics_port)
    capture = ChangeCapture(
        CaptureNames(config.context),
        CaptureDatabase(
            config.database_url,
            config.database_password,
            config.database_schema,
        ),
        tables,
        config.nats_url,
        config,
        name=config.name,
        tls=config.tls,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await capture.start()
    await stop.wait()
    log.info("signal received, stopping change capture")
    await capture.stop()
    if metrics is not None:
        metrics.stop()


def main(argv: list[str] | None = None) -> None:
    try:
        config = load_config(CaptureConfig, PREFIX, {**os.environ, **_arguments(argv)})
        tables = config.table_messages()
    except (ConfigError, ValueError) as error:
        print(f"cdc: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(config.name, config.log_level, pretty=config.log_pretty or None)
    log.info("starting", extra={"config": repr(config)})
    runner.run(lambda: _serve(config, tables))


if __name__ == "__main__":
    main()
