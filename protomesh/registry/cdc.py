"""The `cdc` section: which service's tables a change-capture worker watches.

    cdc:
      order:                                     # a service with a database
        tables:                                  # table → its change message
          orders: shop.order.changes.v1.OrderChanged
        role: order_cdc                          # the worker's REPLICATION role
        metrics_port: {local: 9466, compose: 9464}

The worker (`python -m protomesh.cdc`, component `order-cdc`) publishes to
the `ORDER_CHANGES` stream on `order.changes.v1.<table>`; docs/cdc.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from protomesh.registry.model import ChangeCapture, Service
from protomesh.registry.reading import RULES, Reader, suggest

_MESSAGE = re.compile(r"([a-z_][a-z0-9_]*\.)+[A-Z][A-Za-z0-9]*")


def read_cdc(
    reader: Reader, value: object, environments: tuple[str, ...], services: Mapping[str, Service]
) -> dict[str, ChangeCapture]:
    captures: dict[str, ChangeCapture] = {}
    for name, raw in reader.mapping(value, "cdc", (), None).items():
        path = f"cdc.{name}"
        fields = reader.mapping(raw, path, ("tables", "role", "metrics_port"))
        service = services.get(str(name))
        if service is None:
            reader.fail(path, f"{name} names no service{suggest(str(name), services)}")
        elif service.database is None:
            reader.fail(path, f"services.{name} has no database whose tables could be watched")
        elif service.database.role == fields.get("role"):
            reader.fail(f"{path}.role", "the worker needs a role of its own, not the service's")
        tables = _tables(reader, fields.get("tables"), f"{path}.tables")
        role = reader.string(fields, "role", path)
        ports = reader.ports(fields.get("metrics_port", {}), f"{path}.metrics_port", environments)
        if f"{name}-cdc" in services:
            reader.fail(path, f"its worker's name {name}-cdc is already a service's")
        if service is not None and role is not None and tables:
            captures[service.name] = ChangeCapture(service.name, tables, role, ports)
    return captures


def _tables(reader: Reader, value: object, path: str) -> dict[str, str]:
    raw = reader.mapping(value, path, (), None)
    if value is not None and not raw:
        reader.fail(
            path, "name at least one table, e.g. {orders: shop.order.changes.v1.OrderChanged}"
        )
    tables = {}
    for table, message in raw.items():
        if not isinstance(table, str) or not RULES["schema"][0].fullmatch(table):
            reader.fail(f"{path}.{table}", "a table is a lower-case SQL name")
        elif not isinstance(message, str) or not _MESSAGE.fullmatch(message):
            reader.fail(
                f"{path}.{table}",
                f"{message!r} is not a proto message like shop.order.changes.v1.OrderChanged",
            )
        else:
            tables[table] = message
    return tables
