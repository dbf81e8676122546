"""The database settings every PostgreSQL-backed service shares; its config class mixes them in."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from protomesh.config import Secret, setting


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB for the service's own role (no password here)"
    )
    database_password: Secret | None = setting(None, doc="the role's password; use _FILE")
    database_schema: str = setting(doc="the schema this service owns")
    admin_database_url: str | None = setting(
        None, doc="when set, create the role and schema at start from this admin DSN"
    )
    admin_database_password: Secret | None = setting(None, doc="the admin's password; use _FILE")
    pool_min_size: int = setting(1, minimum=0, maximum=100)
    pool_max_size: int = setting(8, minimum=1, maximum=100)

    @property
    def database_role(self) -> str:
        return urlsplit(self.database_url).username or ""
