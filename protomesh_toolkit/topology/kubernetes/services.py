"""A service's manifests: ConfigMap, Deployment with mTLS probes, headless Service, PDB, HPA."""

from __future__ import annotations

from typing import Any

from protomesh.registry import Service
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.kubernetes.names import (
    CERTS_SECRET,
    DATABASE_SECRET,
    ENVIRONMENT,
    MAX_REPLICAS_FACTOR,
    RESTART_POLICY,
)
from protomesh_toolkit.topology.wiring import (
    Wiring,
    database_password,
    health_command,
    service_settings,
)

POD_CPU_LIMIT = "2"  # cores: two server processes (~17 MiB parent + 2 x ~65 MiB) fit 256Mi


# Containers listen on the ports the registry gives the `compose` environment.
def service_documents(service: Service, wiring: Wiring) -> list[dict[str, Any]]:
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
        keys = [database_password(service)]  # its own role's; the admin's is the Job's alone
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
        # WORKERS=auto runs a server process per core the pod may use, which its
        # CPU limit caps (without one it would be every core of the node, and
        # ~65 MiB each would overrun the memory limit): raise them together.
        "resources": {
            "requests": {"cpu": "100m", "memory": "96Mi"},
            "limits": {"cpu": POD_CPU_LIMIT, "memory": "256Mi"},
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
                    # A container that exits is started again, with the kubelet's backoff,
                    # as the local cluster's supervisor does (the default, said out loud).
                    "restartPolicy": RESTART_POLICY,
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


def _labels(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name}
