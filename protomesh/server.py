"""Turn a service definition into a running grpc.aio server, and stop it cleanly.

Every service gets the same things without writing them: mutual TLS (a
client certificate from the mesh CA is required; the files are re-read when
they are rotated), authorization of every caller by its certificate identity
against mesh.yaml's `callers`, gRPC health per served service and overall
(`""`), server reflection (so `grpcurl list` works), the interceptor chain,
readiness driven by dependency checks, and one shutdown order (nameko's
lesson):

1. health → NOT_SERVING, so balancers stop routing here;
2. after `shutdown_delay`, stop accepting calls and let in-flight ones finish
   within `grace_period`;
3. stop the service's workers (outbox relay, consumers): each finishes the
   work it holds, in reverse order of starting;
4. then run the service's closers (database pool, ...) in reverse order.

Workers start after the server does, so a worker's effects never precede the
service being reachable. A replica run as several server processes
(`protomesh.processes`) starts `workers` in its process 0 only, and
`process_workers` in each.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protomesh.interceptors import server_chain
from protomesh.interceptors.readiness_gate import ReadinessGate
from protomesh.interceptors.validation import Validator
from protomesh.policies import ServicePolicies
from protomesh.process_role import current_role
from protomesh.readiness import ReadinessCheck, ReadinessMonitor
from protomesh.settings import ServerSettings
from protomesh.telemetry.runtime import Telemetry
from protomesh.tls.files import TlsConfigurationError, insecure, require_loopback, warn_insecure
from protomesh.tls.server import server_credentials

log = logging.getLogger("protomesh.server")

# grpc turns SO_REUSEPORT on by default: a second server on a taken port would
# silently share its traffic instead of failing. Port clashes must be loud.
SERVER_OPTIONS: list[tuple[str, Any]] = [("grpc.so_reuseport", 0)]
# Server processes of one replica share its port on purpose; their parent
# holds the port against anyone else (protomesh.process_family).
SHARED_PORT_OPTIONS: list[tuple[str, Any]] = [("grpc.so_reuseport", 1)]


class Worker(Protocol):
    """A long-running part of a service beside its RPCs (outbox relay, consumer).

    `start` returns once the worker runs in the background; `stop` stops it
    taking new work, lets the work in hand finish, and returns when it has.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Registration:
    """One servicer and the generated function that adds it to a server."""

    full_name: str  # e.g. "shop.user.v1.UserService"
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]


@dataclass
class ServiceDefinition:
    """Everything the runtime needs to know to serve one bounded context."""

    name: str
    registrations: Sequence[Registration]
    # Who may call it, for which end users, how often: from the mesh file its
    # bootstrap read (ServicePolicies.of(mesh, name)).
    policies: ServicePolicies
    validators: Mapping[str, Validator] = field(default_factory=dict)
    readiness_checks: Sequence[ReadinessCheck] = ()
    # Work for the replica as a whole (outbox relay, consumers, sweepers): with
    # several server processes, process 0 alone runs them.
    workers: Sequence[Worker] = ()
    # Work that keeps this process's own state (a cache's invalidation): every
    # server process runs its own.
    process_workers: Sequence[Worker] = ()
    closers: Sequence[Callable[[], Awaitable[None]]] = ()


class GrpcService:
    """A started-or-stoppable server for one ServiceDefinition."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: ServerSettings,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.telemetry = telemetry or Telemetry.from_settings(definition.name, settings)
        self.health = health.aio.HealthServicer()
        self.port: int | None = None
        # The mesh-wide switch wins over any per-service files: TLS is off
        # everywhere or nowhere, never on one hop only.
        self.insecure = insecure()
        self.tls = None if self.insecure else settings.tls
        if self.insecure:
            require_loopback(settings.host, definition.name)
        if self.tls is None and not self.insecure:
            raise TlsConfigurationError(
                f"{definition.name}: no TLS certificate configured; set the service's "
                "TLS_CERT_PATH, TLS_KEY_PATH and TLS_CA_PATH (`protomesh certs issue` makes "
                "them), or PROTOMESH_INSECURE=1 to run the whole mesh without TLS"
            )
        policies = definition.policies
        names = [r.full_name for r in definition.registrations]
        self._readiness = ReadinessMonitor(
            self.health, names, definition.readiness_checks, settings.readiness_interval
        )
        self.role = current_role()
        self._server = grpc.aio.server(
            interceptors=server_chain(
                domain=f"{definition.name}.protomesh",
                default_timeout=settings.default_timeout,
                validators=definition.validators,
                callers=policies.callers,
                routes=policies.routes,
                enforce_callers=not self.insecure,
                observers=self.telemetry.server_interceptors(),
                limits=policies.limits,
                readiness_gate=ReadinessGate(
                    self._readiness.failing, retry_after=settings.readiness_interval
                ),
            ),
            options=SHARED_PORT_OPTIONS if self.role.shares_port else SERVER_OPTIONS,
        )
        self._stopping = False
        self._started_workers: list[Worker] = []

    async def start(self) -> int:
        for registration in self.definition.registrations:
            registration.add_to_server(registration.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        served = [r.full_name for r in self.definition.registrations]
        reflection.enable_server_reflection(
            [*served, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        address = f"{self.settings.host}:{self.settings.port}"
        try:
            if self.tls is None:
                warn_insecure(log, self.definition.name)
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, server_credentials(self.tls))
        except RuntimeError as error:
            raise OSError(f"{self.definition.name}: cannot listen on {address}: {error}") from None
        # Decide readiness before the port answers: grpc's HealthServicer starts
        # at SERVING, so a probe arriving between start() and the first check
        # would see a server ready whose database may be down.
        await self._readiness.check_once()
        await self._server.start()
        self.telemetry.start()
        self._readiness.start()
        replica_work = self.definition.workers if self.role.runs_background_work else ()
        for worker in [*self.definition.process_workers, *replica_work]:
            await worker.start()
            self._started_workers.append(worker)
        log.info(
            "%s serving on %s:%s (%s)",
            self.definition.name,
            self.settings.host,
            self.port,
            "plaintext" if self.tls is None else "mTLS, client certificates required",
            extra={"services": served},
        )
        return self.port

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        await self._readiness.stop()
        await self.health.enter_graceful_shutdown()
        log.info("draining: NOT_SERVING, grace period %.1fs", self.settings.grace_period)
        if self.settings.shutdown_delay:
            await asyncio.sleep(self.settings.shutdown_delay)
        await self._server.stop(self.settings.grace_period)
        for worker in reversed(self._started_workers):
            try:
                await worker.stop()
            except Exception:
                log.exception("error while stopping worker %s", type(worker).__qualname__)
        for close in reversed(self.definition.closers):
            try:
                await close()
            except Exception:
                log.exception("error while closing %s", getattr(close, "__qualname__", close))
        await self.telemetry.stop()
        log.info("%s stopped", self.definition.name)

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve_until_signalled(service: GrpcService) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return (the process exits 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    try:
        await stop.wait()
        log.info("signal received, shutting down")
    finally:
        # Also when the wait is cancelled (the loop shutting down on an error):
        # health goes NOT_SERVING and in-flight calls drain either way.
        await service.stop()
