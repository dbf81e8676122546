"""`python -m services.order`: run the order service until SIGTERM."""

from __future__ import annotations

import logging
import sys

from protomesh import logs, processes
from protomesh.config import ConfigError, load_config
from protomesh.server import serve_until_signalled
from services.order.bootstrap import build
from services.order.config import PREFIX, OrderServiceConfig

log = logging.getLogger("services.order")


def main() -> None:
    try:
        config = load_config(OrderServiceConfig, PREFIX)
    except ConfigError as error:
        print(f"order service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure("order", config.log_level, pretty=config.log_pretty or None)
    log.info("starting", extra={"config": repr(config)})

    async def serve() -> None:
        await serve_until_signalled(await build(config))

    processes.run(serve, config, PREFIX)


if __name__ == "__main__":
    main()
