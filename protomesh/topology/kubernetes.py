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

The edge is a Deployment of the official Envoy image behind a Service, with
the edge's certificate from the same Secret at /etc/envoy/certs.
PostgreSQL and NATS are not rendered: a cluster takes them from its operator
or provider, reachable as the Services `postgres` and `nats`. Secrets are
referenced, never rendered: docs/deployment.md says how to create them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.config import FILES
from gateway.upstream_tls import EDGE_IDENTITY
from protomesh.registry import Edge, Mesh, Service
from protomesh.topology import images
from protomesh.topology.compose import wiring_of
from protomesh.topology.wiring import (
    ADMIN_PASSWORD,
    Wiring,
    database_password,
    health_command,
    service_settings,
)

# Containers listen on the ports the registry gives the `compose` environment.
ENVIRONMENT = "compose"
NAMESPACE = "protomesh"
DATABASE_SECRET = "protomesh-database"  # keys: postgres_admin_password, <service>_db_password
CERTS_SECRET = "protomesh-certs"  # keys: ca.crt, <identity>.crt, <identity>.key (mTLS)
ISSUER_SECRET = "protomesh-jwt-issuer"  # key: jwt_issuer.pem, the edge's (dev) token issuer
EDGE_REPLICAS = 2
ENVOY_UID = 101  # the `envoy` user of the official image
MAX_REPLICAS_FACTOR = 3  # the autoscaler may grow a replicated service to 3x its base
HEADER = """\
# Rendered from mesh.yaml by `python -m protomesh.topology`: do not edit; edit mesh.yaml and
# re-render (a test fails when this file and mesh.yaml disagree). See docs/deployment.md.
"""


def render(mesh: Mesh) -> dict[str, list[dict[str, Any]]]:
    """File name → the documents in it (the kustomization included)."""
    # In a cluster the shared parts are Services of these names in the namespace, and
    # Secrets are mounted where compose mounts its secrets and certificates.
    # No collector runs in the cluster these manifests make: tracing stays off
    # until one is added and its address put in each service's ConfigMap
    # (<PREFIX>OTLP_ENDPOINT), or OTEL_EXPORTER_OTLP_ENDPOINT set (docs/observability.md).
    wiring = replace(wiring_of(mesh), otlp_endpoint=None)
    files = {"namespace.yaml": [_namespace()]}
    for service in mesh.services.values():
        files[f"{service.name}.yaml"] = _service_documents(service, wiring)
    if mesh.edge is not None:
        files["edge.yaml"] = _edge_documents(mesh.edge)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "labels": [{"pairs": {"app.kubernetes.io/part-of": "protomesh"}}],
        "resources": sorted(files),
    }
    return {"kustomization.yaml": [kustomization], **files}


def one_address_per_service(mesh: Mesh, environment: str) -> Mesh:
    """The mesh as Kubernetes addresses it: each service by its Service name, once.

    Services are headless, so the name resolves to every ready pod, and the
    edge's STRICT_DNS clusters balance and health-check each pod.
    """
    services = {
        name: replace(service, replicas=service.replicas_in(environment)[:1])
        for name, service in mesh.services.items()
    }
    return replace(mesh, services=services)


def _namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def _labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name}


def _service_documents(service: Service, wiring: Wiring) -> list[dict[str, Any]]:
    replicas = service.replicas_in(ENVIRONMENT)
    port = replicas[0].ports[ENVIRONMENT]
    metrics_port = replicas[0].metrics_ports.get(ENVIRONMENT)
    settings = {
        **service_settings(service, port, wiring, metrics_port=metrics_port),
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
        _deployment(
            service, port, metrics_port, len(replicas), health_command(service, port, wiring)
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service.name, "labels": _labels(service)},
            "spec": {
                # Headless: the name resolves to every ready pod, so gRPC clients and the
                # edge balance per pod (a virtual IP would pin each HTTP/2 connection to one).
                "clusterIP": "None",
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


def certificate_volume(identity: str) -> dict[str, Any]:
    """One identity's certificate, key and the CA from the certs Secret, readable by its group.

    Only its own key: a pod cannot present another identity. The kubelet
    updates the files in place (an atomic `..data` swap, as `protomesh
    certs` does), and services and Envoy pick renewed ones up themselves.
    """
    keys = ["ca.crt", f"{identity}.crt", f"{identity}.key"]
    return {
        "name": "certs",
        "secret": {
            "secretName": CERTS_SECRET,
            "defaultMode": 0o440,
            "items": [{"key": key, "path": key} for key in keys],
        },
    }


def _deployment(
    service: Service, port: int, metrics_port: int | None, replicas: int, health: list[str]
) -> dict[str, Any]:
    # An interpreter starts for each check (~0.3 s of CPU): allow for a busy node.
    probe = {"exec": {"command": health}, "periodSeconds": 5, "timeoutSeconds": 5}
    mounts = [{"name": "certs", "mountPath": images.CERTS_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [certificate_volume(service.name)]
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
        "ports": [
            {"name": "grpc", "containerPort": port},
            *([] if metrics_port is None else [{"name": "metrics", "containerPort": metrics_port}]),
        ],
        "envFrom": [{"configMapRef": {"name": f"{service.name}-config"}}],
        "readinessProbe": {**probe, "failureThreshold": 2},
        "livenessProbe": {**probe, "failureThreshold": 6, "initialDelaySeconds": 10},
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
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


def _edge_documents(edge: Edge) -> list[dict[str, Any]]:
    """Envoy, on files an init container of the protomesh image renders for this mesh.

    The init container runs `protomesh edge-config --environment kubernetes`
    (the compose edge-config job's command), so the descriptor set always
    matches the image's contracts; the issuer key comes from a Secret so that
    every edge replica accepts the same tokens.
    """
    labels = {"app.kubernetes.io/name": "edge"}
    port, admin = edge.ports[ENVIRONMENT], edge.admin_ports[ENVIRONMENT]
    issuer_key = f"{images.ISSUER_DIR}/jwt_issuer.pem"
    edge_config = ["protomesh", "edge-config", "--environment", "kubernetes"]
    config_mount = {"name": "edge-config", "mountPath": images.EDGE_DIR}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    init = {
        "name": "edge-config",
        "image": images.PROTOMESH,
        "command": [*edge_config, "--issuer-key", issuer_key],
        "securityContext": {**restricted, "runAsUser": images.APP_UID},
        "resources": {"requests": {"cpu": "100m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [
            config_mount,
            {"name": "issuer", "mountPath": images.ISSUER_DIR, "readOnly": True},
        ],
    }
    envoy = {
        "name": "envoy",
        "image": images.ENVOY,
        "command": ["envoy", "--config-path", f"{images.EDGE_DIR}/envoy.yaml"],
        "args": ["--log-level", "warning"],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"exec": {"command": images.envoy_ready(admin)}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {**restricted, "runAsUser": ENVOY_UID},
        "volumeMounts": [
            {**config_mount, "readOnly": True},
            # The SDS files edge-config writes point here; the group (fsGroup) may read the key.
            {"name": "certs", "mountPath": FILES[ENVIRONMENT].certs, "readOnly": True},
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "edge", "labels": labels},
        "spec": {
            "replicas": EDGE_REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "fsGroup": images.APP_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [init],
                    "containers": [envoy],
                    "volumes": [
                        {"name": "edge-config", "emptyDir": {}},
                        {"name": "issuer", "secret": {"secretName": ISSUER_SECRET}},
                        certificate_volume(EDGE_IDENTITY),
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "edge", "labels": labels},
        # Reach it from outside with an Ingress, a Gateway or `type: LoadBalancer`.
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "edge", "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
    }
    return [deployment, service, budget]


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
