"""Wire the reporting service together: the composition root.

Beside the projectors runs the pruner of the read model's applied event ids
(kept as long as mesh.yaml's `retention.processed_events` says).
"""

from __future__ import annotations

import os
from pathlib import Path

from shop.reporting.v1 import reporting_pb2_grpc

from protomesh.config import current_environment
from protomesh.db.pool import PostgresProbe
from protomesh.db.service_database import open_service_database
from protomesh.policies import ServicePolicies
from protomesh.pruning import effective_retention, processed_events, service_pruner
from protomesh.readiness import ReadinessCheck
from protomesh.registry import load_mesh
from protomesh.registry.model import host_of
from protomesh.server import GrpcService, Registration, ServiceDefinition, Worker
from services.reporting.config import ReportingServiceConfig
from services.reporting.projector import projector_workers
from services.reporting.queries import SummaryQueries
from services.reporting.servicer import ReportingServiceV1
from services.reporting.tables import APPLIED, install_read_model
from services.reporting.validation import VALIDATORS

MIGRATIONS = Path(__file__).parent / "migrations"


def nats_url(config: ReportingServiceConfig) -> str | None:
    """The configured NATS, else the registry's for this environment; None when neither."""
    if config.nats_url:
        return config.nats_url
    environment = current_environment(os.environ)
    nats = load_mesh(config.mesh_file).infrastructure.get("nats")
    if nats is None or environment not in nats.ports:
        return None
    return f"nats://{host_of(environment, 'nats')}:{nats.ports[environment]}"


async def build(config: ReportingServiceConfig) -> GrpcService:
    pool = await open_service_database(
        config,
        application_name="reporting-service",
        migrations=MIGRATIONS,
        installs=[install_read_model],
    )
    postgres_ready = PostgresProbe(config.database_url, config.database_password)
    servers = nats_url(config)
    workers: list[Worker] = [*projector_workers(servers, pool, tls=config.tls)] if servers else []
    retention = effective_retention(load_mesh(config.mesh_file).services["reporting"].retention)
    applied = processed_events(retention.processed_events, table=APPLIED)
    workers.append(service_pruner(pool, retention, [applied]))
    definition = ServiceDefinition(
        name="reporting",
        policies=ServicePolicies.of(load_mesh(config.mesh_file), "reporting"),
        registrations=[
            Registration(
                "shop.reporting.v1.ReportingService",
                ReportingServiceV1(SummaryQueries(pool)),
                reporting_pb2_grpc.add_ReportingServiceServicer_to_server,
            )
        ],
        validators=VALIDATORS,
        readiness_checks=[ReadinessCheck("postgres", postgres_ready)],
        workers=workers,
        closers=[pool.close, postgres_ready.close],
    )
    return GrpcService(definition, config)
