"""Several replicas of one service: separate processes over the same role and schema."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.support.ports import free_port
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess, user_service


def user_replicas(
    postgres: Postgres, directory: Path, count: int, **overrides: str
) -> list[ServiceProcess]:
    """`count` user services that share one database role and schema, each on its own port.

    Not started: start them one after another, or together (provisioning and
    migrations serialise on advisory locks).
    """
    first = user_service(postgres, directory, **overrides)
    replicas = [first]
    for number in range(2, count + 1):
        port = free_port()
        replicas.append(
            replace(
                first,
                port=port,
                log_file=first.log_file.with_name(f"{first.log_file.stem}-{number}.log"),
                env={**first.env, "USER_SERVICE_PORT": str(port)},
                process=None,
            )
        )
    return replicas
