"""The payment provider's sandbox in Kubernetes: a Deployment and the Service `payments`.

A stand-in for the external provider, so a cluster made from these manifests
takes orders end to end. Against a real provider, delete payments.yaml from
the kustomization and point the order service at it
(`ORDER_SERVICE_PAYMENTS_URL` in order-config, or a Service `payments` of
type ExternalName).
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import Infrastructure
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.kubernetes.names import ENVIRONMENT

LABELS = {"app.kubernetes.io/name": "payments", "app.kubernetes.io/component": "sandbox"}


def payments_documents(part: Infrastructure) -> list[dict[str, Any]]:
    port = part.ports[ENVIRONMENT]
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5}
    container = {
        "name": "payments",
        "image": images.TOOLKIT,
        "command": [
            "python",
            "-m",
            "protomesh_toolkit.payment_sandbox",
            "--host=0.0.0.0",
            f"--port={port}",
        ],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "payments", "labels": LABELS},
        "spec": {
            "replicas": 1,  # its books live in memory: one instance, one truth
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": images.APP_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "payments", "labels": LABELS},
        "spec": {
            "selector": LABELS,
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }
    return [deployment, service]
