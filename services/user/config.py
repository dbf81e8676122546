"""The user service's settings: `USER_SERVICE_<NAME>` variables, `_FILE` for secrets."""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import setting
from protomesh.db.settings import DatabaseSettings
from protomesh.idempotency.settings import IdempotencySettings
from protomesh.settings import ServerSettings

PREFIX = "USER_SERVICE_"


@dataclass(frozen=True, kw_only=True)
class UserServiceConfig(ServerSettings, DatabaseSettings, IdempotencySettings):
    port: int = setting(50051, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    database_schema: str = setting("users", doc="the schema this service owns")
    nats_url: str | None = setting(
        None,
        doc="NATS for the in-process outbox relay and the order-count consumer; unset: events"
        " wait in the outbox for a relay run beside the service (python -m protomesh.outbox)",
    )
    outbox_poll_interval: float = setting(
        1.0, minimum=0.01, doc="seconds between outbox polls when no NOTIFY arrives"
    )
    smtp_host: str = setting(
        "127.0.0.1",
        doc="where verification emails go: locally the cluster's mail sink (`protomesh mail`)",
    )
    smtp_port: int = setting(58025, minimum=1, maximum=65535, doc="the SMTP server's port")
    smtp_from: str = setting("no-reply@protomesh.local", doc="the From of the emails sent")
    smtp_timeout: float = setting(5.0, minimum=0.1, doc="seconds for one SMTP conversation")
