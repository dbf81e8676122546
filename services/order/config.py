"""The order service's settings: `ORDER_SERVICE_<NAME>` variables, `_FILE` for secrets.

The user service, NATS and the payment provider are found in the registry
(mesh.yaml) for the environment named by PROTOMESH_ENV; NATS and the payment
provider can be overridden, for a server the registry does not run.
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
    user_service_failure_threshold: int = setting(
        3, minimum=1, doc="customer checks in a row without an answer that open the user circuit"
    )
    user_service_reset_timeout: float = setting(
        5.0, minimum=0.01, doc="seconds the open user circuit answers UNAVAILABLE at once"
    )
    nats_url: str | None = setting(
        None, doc="nats://HOST:PORT for the outbox relay; default: the registry's nats"
    )
    payments_url: str | None = setting(
        None, doc="http://HOST:PORT of the payment provider; default: the registry's payments"
    )
    payments_timeout: float = setting(
        2.0, minimum=0.01, doc="seconds one call to the payment provider may take"
    )
    payments_failure_threshold: int = setting(
        5, minimum=1, doc="provider failures in a row that open its circuit"
    )
    payments_reset_timeout: float = setting(
        10.0, minimum=0.01, doc="seconds the open circuit refuses calls before one trial"
    )
