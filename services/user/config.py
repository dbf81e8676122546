"""The user service's settings: `USER_SERVICE_<NAME>` variables, `_FILE` for secrets."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from protomesh.config import Secret, setting
from protomesh.settings import ServerSettings

PREFIX = "USER_SERVICE_"


@dataclass(frozen=True, kw_only=True)
class UserServiceConfig(ServerSettings):
    port: int = setting(50051, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB for the service's own role (no password here)"
    )
    database_password: Secret | None = setting(None, doc="the role's password; use _FILE")
    database_schema: str = setting("users", doc="the schema this service owns")
    admin_database_url: str | None = setting(
        None, doc="when set, create the role and schema at start from this admin DSN"
    )
    admin_database_password: Secret | None = setting(None, doc="the admin's password; use _FILE")
    nats_url: str | None = setting(
        None,
        doc="NATS for the in-process outbox relay; unset: events wait in the outbox"
        " for a relay run beside the service (python -m protomesh.outbox)",
    )
    outbox_poll_interval: float = setting(
        1.0, minimum=0.01, doc="seconds between outbox polls when no NOTIFY arrives"
    )
    pool_min_size: int = setting(1, minimum=0, maximum=100)
    pool_max_size: int = setting(8, minimum=1, maximum=100)

    @property
    def database_role(self) -> str:
        return urlsplit(self.database_url).username or ""
