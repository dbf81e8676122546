"""The order service's settings: `ORDER_SERVICE_<NAME>` variables, `_FILE` for secrets.

The user service and NATS are found in the registry (mesh.yaml) for the
environment named by PROTOMESH_ENV; only NATS can be overridden, for a
server the registry does not run.
"""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import setting
from protomesh.db.settings import DatabaseSettings
from protomesh.idempotency.settings import IdempotencySettings
from protomesh.settings import ServerSettings

PREFIX = "ORDER_SERVICE_"


@dataclass(frozen=True, kw_only=True)
class OrderServiceConfig(ServerSettings, DatabaseSettings, IdempotencySettings):
    port: int = setting(50052, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    database_schema: str = setting("orders", doc="the schema this service owns")
    user_service_timeout: float = setting(
        2.0, minimum=0.01, doc="seconds a customer check may take (less if the caller has less)"
    )
    nats_url: str | None = setting(
        None, doc="nats://HOST:PORT for the outbox relay; default: the registry's nats"
    )
