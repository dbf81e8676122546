"""A probe upstream for the edge: shop.user.v1.UserService on the real runtime, no database.

It says what reached it, so tests can see what the edge forwards (the
verified subject, the request id, the idempotency key), and it fails on
request with any domain error, so tests can see how the edge maps each gRPC
status to HTTP. It runs the real `GrpcService` (interceptors, health, error
details) as a process of its own, like any service: `python -m tests.support.edge_upstream PORT`.

    GetUser(user_id="NOT_FOUND")  → the runtime's NotFound
    GetUser(user_id="SLOW")       → the same, after SLOW_SECONDS
    GetUser(user_id="u1")         → a user whose display_name is JSON of what it saw
    CreateUser(email="UNAVAILABLE") → Unavailable (to show a POST is not retried)
    UpdateUser(user_id="alice")   → allowed only to the signed-in user alice

It serves over mTLS with the user service's certificate (the edge pins that
identity) and says which certificate the caller connected with, so tests see
the edge's rotated client certificate arrive. Given a mesh file, it enforces
the `limits` that file gives the user service (rate limits, load shedding).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from shop.user.v1 import user_pb2 as v1
from shop.user.v1 import user_pb2_grpc

from protomesh import edge_auth, errors, logs, request_context, runner
from protomesh.authz import CallerPolicy
from protomesh.interceptors.end_user_policy import RoutePolicies
from protomesh.paths import ROOT
from protomesh.policies import ServicePolicies
from protomesh.registry import Mesh, ServiceLimits, load_mesh
from protomesh.server import GrpcService, Registration, ServiceDefinition, serve_until_signalled
from protomesh.settings import ServerSettings
from protomesh.tls.files import TlsFiles
from tests.support import mesh_tls
from tests.support.grpc_calls import health
from tests.support.ports import free_port

Context = grpc.aio.ServicerContext[Any, Any]
SLOW_SECONDS = 1.0
FAILURES: dict[str, Callable[[], errors.DomainError]] = {
    "NOT_FOUND": lambda: errors.NotFound("user", "nobody"),
    "INVALID_ARGUMENT": lambda: errors.InvalidArgument(
        [errors.FieldViolation("user_id", "not acceptable")]
    ),
    "ALREADY_EXISTS": lambda: errors.AlreadyExists("user", "ada", "ada already exists"),
    "UNAUTHENTICATED": lambda: errors.Unauthenticated("who are you?"),
    "PERMISSION_DENIED": lambda: errors.PermissionDenied("not yours"),
    "RESOURCE_EXHAUSTED": lambda: errors.ResourceExhausted("slow down", retry_after=2.0),
    "UNAVAILABLE": lambda: errors.Unavailable("database unreachable"),
    "FAILED_PRECONDITION": lambda: errors.FailedPrecondition("email not verified"),
}


def _seen(context: Context) -> str:
    metadata = dict(context.invocation_metadata() or ())
    return json.dumps(
        {
            "end_user": edge_auth.end_user(context),
            "roles": sorted(request_context.end_user_roles.get()),
            "request_id": request_context.request_id.get(),
            "idempotency_key": metadata.get("idempotency-key"),
            "caller": request_context.caller.get(),
            "caller_serial": _caller_serial(context),
            # The deadline the call arrived with (grpc-timeout), in seconds; None without one.
            "deadline": context.time_remaining(),
        }
    )


def _caller_serial(context: Context) -> int | None:
    """The serial number of the certificate the caller connected with (None without TLS)."""
    pems = list(context.auth_context().get("x509_pem_cert") or ())
    return x509.load_pem_x509_certificate(pems[0]).serial_number if pems else None


class ProbeUserService(user_pb2_grpc.UserServiceServicer):
    async def GetUser(self, request: v1.GetUserRequest, context: Context) -> v1.GetUserResponse:
        failure = FAILURES.get(request.user_id)
        if failure is not None:
            raise failure()
        if request.user_id == "SLOW":
            await asyncio.sleep(SLOW_SECONDS)
        return v1.GetUserResponse(
            user=v1.User(user_id=request.user_id, display_name=_seen(context))
        )

    async def CreateUser(
        self, request: v1.CreateUserRequest, context: Context
    ) -> v1.CreateUserResponse:
        if request.email in FAILURES:
            raise FAILURES[request.email]()
        user = v1.User(user_id="new", email=request.email, display_name=_seen(context))
        return v1.CreateUserResponse(user=user)

    async def ListUsers(
        self, request: v1.ListUsersRequest, context: Context
    ) -> v1.ListUsersResponse:
        return v1.ListUsersResponse(users=[v1.User(user_id="u1", display_name=_seen(context))])

    async def UpdateUser(
        self, request: v1.UpdateUserRequest, context: Context
    ) -> v1.UpdateUserResponse:
        edge_auth.require_end_user(context, owner=request.user_id)
        return v1.UpdateUserResponse(
            user=v1.User(user_id=request.user_id, display_name=_seen(context))
        )


def definition(mesh: Mesh, limits: ServiceLimits | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="probe",
        policies=ServicePolicies(
            # Like the user service it stands in for: the edge (and the operator) call it,
            # end users as the project's edge routes say.
            callers=CallerPolicy.from_rules(
                mesh.trust_domain, {"shop.user.v1.UserService/*": ["edge", "operator"]}
            ),
            routes=RoutePolicies(mesh.edge),
            limits=limits or ServiceLimits(),
        ),
        registrations=[
            Registration(
                "shop.user.v1.UserService",
                ProbeUserService(),
                user_pb2_grpc.add_UserServiceServicer_to_server,
            )
        ],
    )


@dataclass
class Probe:
    """The probe as a process (grpc.aio wants its own process, not a thread)."""

    port: int
    log_file: Path
    process: subprocess.Popen[bytes]

    def calls(self, method: str, request_id: str) -> int:
        """How many calls of `method` (e.g. GetUser) for one request it answered (its log says)."""
        rpc = f"/shop.user.v1.UserService/{method}"
        text = self.log_file.read_text() if self.log_file.exists() else ""
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return sum(
            1
            for entry in entries
            if entry.get("rpc_method") == rpc and entry.get("request_id") == request_id
        )

    def wait_for_calls(self, method: str, request_id: str, count: int, timeout: float) -> int:
        """Its access log is written after the reply: wait (a while) for `count` lines."""
        deadline = time.monotonic() + timeout
        while (seen := self.calls(method, request_id)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen


@contextmanager
def probe_upstream(
    directory: Path, identity: str = "user", certs: Path | None = None, mesh: Path | None = None
) -> Iterator[Probe]:
    """The probe, serving with `identity`'s certificate (the edge accepts only `user`'s)
    from `certs` (default: the session's), with the user service's limits in `mesh`."""
    port = free_port()
    log_file = directory / "probe.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.edge_upstream",
                str(port),
                str(certs or mesh_tls.directory()),
                identity,
                *([str(mesh)] if mesh else []),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    probe = Probe(port, log_file, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the probe exited {process.returncode}: {log_file.read_text()}")
            with contextlib.suppress(grpc.RpcError):
                if health(f"127.0.0.1:{port}") == "SERVING":
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the probe is not serving: {log_file.read_text()}")
            time.sleep(0.05)
        yield probe
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    logs.configure("probe", "info")
    # It answers as the user service: the edge pins that identity.
    identity = TlsFiles.of(Path(sys.argv[2]), sys.argv[3])
    settings = ServerSettings(
        port=int(sys.argv[1]),
        grace_period=1.0,
        tls_cert_path=identity.cert,
        tls_key_path=identity.key,
        tls_ca_path=identity.ca,
    )
    given = len(sys.argv) > 4  # a registry of the test's own: its edge routes, user's limits
    mesh = load_mesh(Path(sys.argv[4])) if given else load_mesh()
    limits = mesh.services["user"].limits if given else None

    async def serve() -> None:  # the server is made inside the loop that runs it
        await serve_until_signalled(GrpcService(definition(mesh, limits), settings))

    runner.run(serve)


if __name__ == "__main__":
    main()
