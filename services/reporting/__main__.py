"""`python -m services.reporting`: serve the query RPCs and run the projector until SIGTERM.

`python -m services.reporting rebuild`: rebuild the read model from the
streams' history and swap it in, then exit (the service may go on serving
meanwhile). Both read the same `REPORTING_SERVICE_*` settings.
"""

from __future__ import annotations

import logging
import sys

from protomesh import logs, processes, runner
from protomesh.bus.connection import connect_nats
from protomesh.config import ConfigError, load_config, secret_values
from protomesh.db.pool import create_pool
from protomesh.registry import RegistryError
from protomesh.server import serve_until_signalled
from protomesh.tls.files import TlsConfigurationError
from services.reporting.bootstrap import build, nats_url
from services.reporting.config import PREFIX, ReportingServiceConfig
from services.reporting.rebuild import rebuild
from services.reporting.tables import install_read_model

log = logging.getLogger("services.reporting")
USAGE = "usage: python -m services.reporting [rebuild]"


async def run_rebuild(config: ReportingServiceConfig) -> None:
    servers = nats_url(config)
    if servers is None:
        raise SystemExit("reporting rebuild: no NATS (set REPORTING_SERVICE_NATS_URL)")
    pool = await create_pool(
        config.database_url,
        password=config.database_password,
        schema=config.database_schema,
        application_name="reporting-rebuild",
    )
    nats = await connect_nats(servers, name="reporting-rebuild", tls=config.tls)
    try:
        async with pool.acquire() as connection:
            await install_read_model(connection)
        report = await rebuild(pool, nats.jetstream())
    finally:
        await nats.close()
        await pool.close()
    positions = ", ".join(f"{stream} {seq}" for stream, seq in sorted(report.positions.items()))
    print(
        f"rebuilt the read model from {report.events} events in {report.seconds:.2f}s "
        f"({report.events_per_second:,.0f} events/s); {report.caught_up} more applied during "
        f"the swap; {report.skipped} skipped; positions: {positions or 'none'}"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["rebuild"]):
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    try:
        config = load_config(ReportingServiceConfig, PREFIX)
    except ConfigError as error:
        print(f"reporting service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(
        "reporting",
        config.log_level,
        pretty=config.log_pretty or None,
        secrets=secret_values(config),
    )
    if argv == ["rebuild"]:
        runner.run(lambda: run_rebuild(config))
        return
    log.info("starting", extra={"config": repr(config)})

    async def serve() -> None:
        await serve_until_signalled(await build(config))

    try:
        processes.run(serve, config, PREFIX)
    except (TlsConfigurationError, RegistryError) as error:
        print(f"reporting service: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
