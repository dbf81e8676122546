"""The database settings every PostgreSQL-backed service shares; its config class mixes them in.

Only the service's own role: no admin DSN or password. Roles and schemas are
made before the service starts, by `protomesh db provision` (the one-shot
`db-provision` job in compose and Kubernetes); a service handed an admin
setting refuses to start ("unknown setting").
"""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import Secret, setting


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    database_url: str = setting(
        doc="postgresql://ROLE@HOST:PORT/DB for the service's own role (no password here)"
    )
    database_password: Secret | None = setting(None, doc="the role's password; use _FILE")
    database_schema: str = setting(doc="the schema this service owns")
    pool_min_size: int = setting(1, minimum=0, maximum=100)
    pool_max_size: int = setting(8, minimum=1, maximum=100)
