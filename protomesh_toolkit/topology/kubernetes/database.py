"""The `db-provision` Job: every service's role and schema, made as the PostgreSQL admin.

The only pod that mounts the admin password (with every service role's
password, which it sets); a service's pod mounts its own role's password
alone. Services that start before the Job has finished fail to log in and
are restarted by their Deployment until it has. A Job's pod template cannot
change in place: `kubectl -n protomesh delete job db-provision` before
re-applying a changed one (re-running it is harmless: it is idempotent).
"""

from __future__ import annotations

from typing import Any

from protomesh.registry import Mesh
from protomesh_toolkit.topology import images
from protomesh_toolkit.topology.kubernetes.names import DATABASE_SECRET, ENVIRONMENT
from protomesh_toolkit.topology.wiring import provision_command, provision_secrets

NAME = "db-provision"


def provision_documents(mesh: Mesh) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": NAME}
    container = {
        "name": NAME,
        "image": images.TOOLKIT,
        "command": provision_command(ENVIRONMENT),
        "resources": {"requests": {"cpu": "100m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "secrets", "mountPath": images.SECRETS_DIR, "readOnly": True}],
    }
    secrets = {
        "secretName": DATABASE_SECRET,
        "defaultMode": 0o440,
        "items": [{"key": key, "path": key} for key in provision_secrets(mesh)],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            "backoffLimit": 20,  # PostgreSQL may come up after it: retry with backoff
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": images.APP_UID,
                        "fsGroup": images.APP_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "secrets", "secret": secrets}],
                },
            },
        },
    }
    return [job]
