"""`python -m services.user`: run the user service until SIGTERM."""

from __future__ import annotations

import logging
import sys

from protomesh import logs, processes
from protomesh.config import ConfigError, load_config, secret_values
from protomesh.registry import RegistryError
from protomesh.server import serve_until_signalled
from protomesh.tls.files import TlsConfigurationError
from services.user.bootstrap import build
from services.user.config import PREFIX, UserServiceConfig

log = logging.getLogger("services.user")


def main() -> None:
    try:
        config = load_config(UserServiceConfig, PREFIX)
    except ConfigError as error:
        print(f"user service: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(
        "user", config.log_level, pretty=config.log_pretty or None, secrets=secret_values(config)
    )
    log.info("starting", extra={"config": repr(config)})

    async def serve() -> None:
        await serve_until_signalled(await build(config))

    try:
        processes.run(serve, config, PREFIX)
    except (TlsConfigurationError, RegistryError) as error:
        # No certificate, or a registry that says nothing sane about its callers.
        print(f"user service: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
