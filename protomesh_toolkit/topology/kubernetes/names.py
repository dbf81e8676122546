"""Names shared by the Kubernetes manifests: namespace, Secrets, sizes."""

from __future__ import annotations

ENVIRONMENT = "compose"
NAMESPACE = "protomesh"
# keys: postgres_admin_password, <service>_db_password, <service>_cdc_db_password (CDC)
DATABASE_SECRET = "protomesh-database"
CERTS_SECRET = "protomesh-certs"  # keys: ca.crt, <identity>.crt, <identity>.key (mTLS)
ISSUER_SECRET = "protomesh-jwt-issuer"  # key: jwt_issuer.pem, the edge's (dev) token issuer
EDGE_REPLICAS = 2
ENVOY_UID = 101  # the `envoy` user of the official image
MAX_REPLICAS_FACTOR = 3  # the autoscaler may grow a replicated service to 3x its base
RESTART_POLICY = "Always"  # a container that exits is started again (the kubelet backs off)
HEADER = """\
# Rendered from mesh.yaml by `python -m protomesh_toolkit.topology`: do not edit; edit mesh.yaml and
# re-render (a test fails when this file and mesh.yaml disagree). See docs/deployment.md.
"""
