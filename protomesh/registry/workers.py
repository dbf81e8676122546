"""Each service's `workers:`: how many server processes one replica runs (`protomesh.processes`).

    workers: 2                         # every environment
    workers: auto                      # one per core the replica may use
    workers: {local: 1, compose: auto} # per environment (the default when absent)

The default is one process locally and one per core elsewhere: the local
cluster runs every service, PostgreSQL, NATS and Envoy on the developer's
machine, where a process per core per service would only add memory and
database connections for cores the others are already using; a container or
pod sized for one service should use every core it is given.
"""

from __future__ import annotations

from collections.abc import Mapping

from protomesh.registry.model import LOCAL, Workers
from protomesh.registry.reading import Reader

AUTO = "auto"  # one server process per core; stored as None


def default_workers(environments: tuple[str, ...]) -> Workers:
    return {environment: 1 if environment == LOCAL else None for environment in environments}


def read_workers(
    reader: Reader, fields: Mapping[str, object], path: str, environments: tuple[str, ...]
) -> Workers:
    where = f"{path}.workers"
    if "workers" not in fields:
        return default_workers(environments)
    value = fields["workers"]
    if isinstance(value, dict):
        raw = reader.mapping(value, where, required=environments, optional=())
        return {
            environment: _count(reader, raw[environment], f"{where}.{environment}")
            for environment in environments
            if environment in raw
        }
    count = _count(reader, value, where)
    return dict.fromkeys(environments, count)


def _count(reader: Reader, value: object, where: str) -> int | None:
    if value == AUTO:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    reader.fail(where, f"{value!r} is not a whole number >= 1, {AUTO}, or {{environment: ...}}")
    return 1


def workers_setting(count: int | None) -> str:
    """The `<PREFIX>WORKERS` value for a count read here."""
    return AUTO if count is None else str(count)
