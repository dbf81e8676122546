"""mesh.yaml → Kubernetes manifests (deploy/k8s/, a kustomize base), one file per service.

Each service gets a ConfigMap of the settings the registry decides (the same
`wiring.py` settings as compose, addressed by Service names), a Deployment
of the protomesh image with gRPC readiness and liveness probes, resources
and a non-root security context, a Service, and a PodDisruptionBudget. A
service with several replicas in `compose` runs that many pods here too,
with a HorizontalPodAutoscaler over them.

PostgreSQL and NATS are not rendered: a cluster takes them from its operator
or provider, reachable as the Services `postgres` and `nats`. Secrets are
referenced, never rendered: docs/deployment.md says how to create them.
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import Mesh, Service
from protomesh.topology import images
from protomesh.topology.wiring import ADMIN_PASSWORD, Wiring, database_password, service_settings

# Containers listen on the ports the registry gives the `compose` environment.
ENVIRONMENT = "compose"
NAMESPACE = "protomesh"
DATABASE_SECRET = "protomesh-database"  # keys: postgres_admin_password, <service>_db_password
CERTS_SECRET = "protomesh-certs"  # the mesh's certificates (mTLS), issued outside the cluster
MAX_REPLICAS_FACTOR = 3  # the autoscaler may grow a replicated service to 3x its base
HEADER = """\
# Rendered from mesh.yaml by `python -m protomesh.topology`: do not edit; edit mesh.yaml and
# re-render (a test fails when this file and mesh.yaml disagree). See docs/deployment.md.
"""


def render(mesh: Mesh) -> dict[str, list[dict[str, Any]]]:
    """File name → the documents in it (the kustomization included)."""
    # In a cluster the shared parts are Services of these names in the namespace.
    wiring = Wiring.of(mesh, ENVIRONMENT, "0.0.0.0", lambda name: f"{images.SECRETS_DIR}/{name}")
    files = {"namespace.yaml": [_namespace()]}
    for service in mesh.services.values():
        files[f"{service.name}.yaml"] = _service_documents(service, wiring)
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


def _labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name}


def _service_documents(service: Service, wiring: Wiring) -> list[dict[str, Any]]:
    replicas = service.replicas_in(ENVIRONMENT)
    port = replicas[0].ports[ENVIRONMENT]
    settings = {
        **service_settings(service, port, wiring),
        "PROTOMESH_ENV": ENVIRONMENT,
        "PYTHONUNBUFFERED": "1",
    }
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{service.name}-config", "labels": _labels(service)},
            "data": settings,
        },
        _deployment(service, port, len(replicas)),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service.name, "labels": _labels(service)},
            "spec": {
                "selector": _labels(service),
                "ports": [{"name": "grpc", "port": port, "targetPort": "grpc"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": service.name, "labels": _labels(service)},
            "spec": {
                # One pod may always be drained; a replicated service keeps the rest serving.
                "maxUnavailable": 1,
                "selector": {"matchLabels": _labels(service)},
            },
        },
    ]
    if len(replicas) > 1:
        documents.append(_autoscaler(service, len(replicas)))
    return documents


def _deployment(service: Service, port: int, replicas: int) -> dict[str, Any]:
    probe = {"grpc": {"port": port}, "periodSeconds": 5, "timeoutSeconds": 2}
    mounts = [{"name": "certs", "mountPath": images.CERTS_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [
        # Optional until the certificates are issued into the Secret (docs/deployment.md).
        {"name": "certs", "secret": {"secretName": CERTS_SECRET, "optional": True}},
    ]
    if service.database is not None:
        keys = [ADMIN_PASSWORD, database_password(service)]
        mounts.append({"name": "secrets", "mountPath": images.SECRETS_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "secrets",
                "secret": {
                    "secretName": DATABASE_SECRET,
                    "defaultMode": 0o440,
                    "items": [{"key": key, "path": key} for key in keys],
                },
            }
        )
    container = {
        "name": service.name,
        "image": images.PROTOMESH,
        "command": ["python", "-m", service.module],
        "ports": [{"name": "grpc", "containerPort": port}],
        "envFrom": [{"configMapRef": {"name": f"{service.name}-config"}}],
        "readinessProbe": {**probe, "failureThreshold": 2},
        "livenessProbe": {**probe, "failureThreshold": 6, "initialDelaySeconds": 10},
        "startupProbe": {**probe, "periodSeconds": 1, "failureThreshold": 60},
        "resources": {
            "requests": {"cpu": "100m", "memory": "96Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service.name, "labels": _labels(service)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(service)},
            "template": {
                "metadata": {"labels": _labels(service)},
                "spec": {
                    # SIGTERM drains: the runtime's grace period, plus room to exit.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": images.APP_UID,
                        "fsGroup": images.APP_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _autoscaler(service: Service, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": service.name, "labels": _labels(service)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name},
            "minReplicas": replicas,
            "maxReplicas": replicas * MAX_REPLICAS_FACTOR,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
