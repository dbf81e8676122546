"""`python -m services.bff`: run the web BFF until SIGTERM."""

from __future__ import annotations

import logging
import sys

from protomesh import logs, processes
from protomesh.config import ConfigError, load_config
from protomesh.server import serve_until_signalled
from services.bff.bootstrap import build
from services.bff.config import PREFIX, BffServiceConfig

log = logging.getLogger("services.bff")


def main() -> None:
    try:
        config = load_config(BffServiceConfig, PREFIX)
    except ConfigError as error:
        print(f"web BFF: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure("bff", config.log_level, pretty=config.log_pretty or None)
    log.info("starting", extra={"config": repr(config)})

    async def serve() -> None:
        await serve_until_signalled(await build(config))

    processes.run(serve, config, PREFIX)


if __name__ == "__main__":
    main()
