"""The edge's manifests: Envoy Deployment (its config prepared by an init container) and Service."""

from __future__ import annotations

from typing import Any

from gateway.config import FILES
from gateway.upstream_tls import EDGE_IDENTITY
from protomesh.registry import Edge
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.kubernetes.names import (
    EDGE_REPLICAS,
    ENVIRONMENT,
    ENVOY_UID,
    ISSUER_SECRET,
    RESTART_POLICY,
)
from protomesh_toolkit.topology.kubernetes.services import certificate_volume


# Containers listen on the ports the registry gives the `compose` environment.
def edge_documents(edge: Edge) -> list[dict[str, Any]]:
    """Envoy, on files an init container of the protomesh image renders for this mesh.

    The init container runs `python -m gateway prepare --environment kubernetes`
    (the compose edge-config job's command), so the descriptor set always
    matches the image's contracts; the issuer key comes from a Secret so that
    every edge replica accepts the same tokens.
    """
    labels = {"app.kubernetes.io/name": "edge"}
    port, admin = edge.ports[ENVIRONMENT], edge.admin_ports[ENVIRONMENT]
    issuer_key = f"{images.ISSUER_DIR}/jwt_issuer.pem"
    edge_config = ["python", "-m", "gateway", "prepare", "--environment", "kubernetes"]
    config_mount = {"name": "edge-config", "mountPath": images.EDGE_DIR}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    init = {
        "name": "edge-config",
        "image": images.TOOLKIT,
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
                    "restartPolicy": RESTART_POLICY,
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
