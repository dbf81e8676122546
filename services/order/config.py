"""The order service's settings: `ORDER_SERVICE_<NAME>` variables, `_FILE` for secrets.

The user service and NATS are found in the registry (mesh.yaml) for the
environment named by PROTOMESH_ENV; only NATS can be overridden, for a
server the registry does not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from protomesh.config import Secret, setting
from protomesh.settings import ServerSettings

PREFIX = "ORDER_SERVICE_"


@dataclass(frozen=True, kw_only=True)
class OrderServiceConfig(ServerSettings):
    port: int = setting(50052, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB for the service's own role (no password here)"
    )
    database_password: Secret | None = setting(None, doc="the role's password; use _FILE")
    database_schema: str = setting("orders", doc="the schema this service owns")
    admin_database_url: str | None = setting(
        None, doc="when set, create the role and schema at start from this admin DSN"
    )
    admin_database_password: Secret | None = setting(None, doc="the admin's password; use _FILE")
    pool_min_size: int = setting(1, minimum=0, maximum=100)
    pool_max_size: int = setting(8, minimum=1, maximum=100)
    user_service_timeout: float = setting(
        2.0, minimum=0.01, doc="seconds a customer check may take (less if the caller has less)"
    )
    nats_url: str | None = setting(
        None, doc="nats://HOST:PORT for the outbox relay; default: the registry's nats"
    )
    idempotency_retention: float = setting(
        86400.0, minimum=1.0, doc="seconds an idempotency key and its response are kept"
    )
    idempotency_sweep_interval: float = setting(
        60.0, minimum=0.05, doc="seconds between deletions of expired idempotency keys"
    )

    @property
    def database_role(self) -> str:
        return urlsplit(self.database_url).username or ""
