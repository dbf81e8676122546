"""The reporting service's settings: `REPORTING_SERVICE_<NAME>` variables, `_FILE` for secrets."""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.config import setting
from protomesh.db.settings import DatabaseSettings
from protomesh.settings import ServerSettings

PREFIX = "REPORTING_SERVICE_"


@dataclass(frozen=True, kw_only=True)
class ReportingServiceConfig(ServerSettings, DatabaseSettings):
    port: int = setting(50054, minimum=0, maximum=65535, doc="gRPC port; 0 picks a free one")
    database_schema: str = setting("reporting", doc="the schema this service owns")
    nats_url: str | None = setting(
        None, doc="NATS whose streams feed the read model; unset: the model is not updated"
    )
