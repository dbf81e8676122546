"""mesh.yaml → Kubernetes manifests (deploy/k8s/, a kustomize base), one file per service.

Each service gets a ConfigMap of the settings the registry decides (the same
`wiring.py` settings as compose, addressed by Service names), a Deployment
of the protomesh image with readiness and liveness probes on gRPC health,
resources and a non-root security context, a Service, and a
PodDisruptionBudget. A service with several replicas in `compose` runs that
many pods here too, with a HorizontalPodAutoscaler over them.

Services take mTLS only: each pod mounts its own certificate, key and the CA
from the Secret `protomesh-certs` at /certs (where compose mounts the certs
volume), and its probes are exec probes running `python -m
protomesh.healthcheck` with them, because the kubelet's native gRPC probe
cannot present a client certificate.

A change-capture worker (`cdc` in mesh.yaml) is a one-pod Deployment with
its ConfigMap. The edge is a Deployment of the official Envoy image behind a Service, with
the edge's certificate from the same Secret at /etc/envoy/certs.
PostgreSQL and NATS are not rendered: a cluster takes them from its operator
or provider, reachable as the Services `postgres` and `nats`; the Job
`db-provision` makes each service's role and schema there, the only pod
with the admin password. The payment provider's sandbox is (payments.yaml),
as the Service `payments`. Secrets are referenced, never rendered:
docs/deployment.md says how to create them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from protomesh.registry import Mesh
from protomesh_toolkit.topology.compose import wiring_of
from protomesh_toolkit.topology.kubernetes.cdc import cdc_documents
from protomesh_toolkit.topology.kubernetes.database import NAME as PROVISION
from protomesh_toolkit.topology.kubernetes.database import provision_documents
from protomesh_toolkit.topology.kubernetes.edge import edge_documents
from protomesh_toolkit.topology.kubernetes.names import HEADER, NAMESPACE
from protomesh_toolkit.topology.kubernetes.payments import payments_documents
from protomesh_toolkit.topology.kubernetes.services import service_documents

__all__ = ["HEADER", "NAMESPACE", "render"]


def render(mesh: Mesh) -> dict[str, list[dict[str, Any]]]:
    """File name → the documents in it (the kustomization included)."""
    # In a cluster the shared parts are Services of these names in the namespace, and
    # Secrets are mounted where compose mounts its secrets and certificates.
    # No collector runs in the cluster these manifests make: tracing stays off
    # until one is added and its address put in each service's ConfigMap
    # (<PREFIX>OTLP_ENDPOINT), or OTEL_EXPORTER_OTLP_ENDPOINT set (docs/observability.md).
    wiring = replace(wiring_of(mesh), otlp_endpoint=None)
    files = {"namespace.yaml": [_namespace()]}
    if "postgres" in mesh.infrastructure:
        files[f"{PROVISION}.yaml"] = provision_documents(mesh)
    if "payments" in mesh.infrastructure:
        files["payments.yaml"] = payments_documents(mesh.infrastructure["payments"])
    for service in mesh.services.values():
        files[f"{service.name}.yaml"] = service_documents(service, wiring)
    for capture in mesh.cdc.values():
        service = mesh.services[capture.service]
        files[f"{capture.name}.yaml"] = cdc_documents(capture, service, wiring)
    if mesh.edge is not None:
        files["edge.yaml"] = edge_documents(mesh.edge)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "labels": [{"pairs": {"app.kubernetes.io/part-of": "protomesh"}}],
        "resources": sorted(files),
    }
    return {"kustomization.yaml": [kustomization], **files}


def _namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
