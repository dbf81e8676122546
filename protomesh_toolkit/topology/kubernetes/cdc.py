"""A change-capture worker's manifests: ConfigMap and a one-pod Deployment.

Its init container makes the worker's role, grants, publication and slot as the admin
(`protomesh db provision --cdc`, retried until the service has migrated); the worker
container mounts only its own role's password and its own certificate (`order-cdc`, for
NATS). One pod, replaced with `Recreate`: a slot has one reader, and a rolling update
would run two for a moment (the second fails on the active slot and retries, harmlessly,
but noisily). No Service: nothing calls it; Prometheus scrapes the pod's `metrics` port,
which is also its probe (it answers with the slot's lag once the worker has read its
slot).
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import ChangeCapture, Service
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.kubernetes.names import DATABASE_SECRET, ENVIRONMENT, RESTART_POLICY
from protomesh_toolkit.topology.kubernetes.services import certificate_volume
from protomesh_toolkit.topology.wiring import (
    Wiring,
    cdc_health_command,
    cdc_password,
    cdc_settings,
    cdc_setup_command,
    cdc_setup_secrets,
)


def cdc_documents(capture: ChangeCapture, service: Service, wiring: Wiring) -> list[dict[str, Any]]:
    port = capture.metrics_ports[ENVIRONMENT]
    labels = {"app.kubernetes.io/name": capture.name}
    settings = {
        **cdc_settings(capture, service, wiring, metrics_port=port),
        "PROTOMESH_ENV": ENVIRONMENT,
        "PYTHONUNBUFFERED": "1",
    }
    probe = {
        "exec": {"command": cdc_health_command(port)},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    keys = [cdc_password(capture)]  # its own role's; the admin's is the init container's
    setup = {
        "name": "setup",
        "image": images.TOOLKIT,
        "command": cdc_setup_command(ENVIRONMENT),
        "env": [{"name": "PROTOMESH_ENV", "value": ENVIRONMENT}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "setup-secrets", "mountPath": images.SECRETS_DIR, "readOnly": True}
        ],
    }
    container = {
        "name": capture.name,
        "image": images.PROTOMESH,
        "command": ["python", "-m", "protomesh.cdc"],
        "ports": [{"name": "metrics", "containerPort": port}],
        "envFrom": [{"configMapRef": {"name": f"{capture.name}-config"}}],
        "readinessProbe": {**probe, "failureThreshold": 3},
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
        "resources": {
            "requests": {"cpu": "50m", "memory": "96Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "secrets", "mountPath": images.SECRETS_DIR, "readOnly": True},
            {"name": "certs", "mountPath": images.CERTS_DIR, "readOnly": True},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{capture.name}-config", "labels": labels},
            "data": settings,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": capture.name, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": RESTART_POLICY,
                        "terminationGracePeriodSeconds": 15,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": images.APP_UID,
                            "fsGroup": images.APP_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "initContainers": [setup],
                        "containers": [container],
                        "volumes": [
                            _secrets("secrets", keys),
                            _secrets("setup-secrets", cdc_setup_secrets(capture)),
                            certificate_volume(capture.name),
                        ],
                    },
                },
            },
        },
    ]


def _secrets(name: str, keys: list[str]) -> dict[str, Any]:
    items = [{"key": key, "path": key} for key in keys]
    secret = {"secretName": DATABASE_SECRET, "defaultMode": 0o440, "items": items}
    return {"name": name, "secret": secret}
