"""Everything an Envoy process runs on, written where its config expects it.

The committed `envoy/<environment>.yaml` files show a reviewer what mesh.yaml
does to the edge; a running Envoy needs more beside its config: the edge's
descriptor set, the JWKS of the dev JWT issuer (whose private key stays
elsewhere) and the SDS files through which it reads, and re-reads on
rotation, its certificate. The local cluster prepares them in its run
directory; compose's one-shot edge-config job and the edge pod's init
container prepare them in the container (`python -m gateway prepare`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gateway.config import FILES, RenderError, as_yaml, render
from gateway.descriptors import write_edge_descriptor_set
from gateway.dev_issuer import DevIssuer
from gateway.openapi.pages import write_pages
from gateway.upstream_tls import write_secret_documents
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import Mesh, RpcCatalogue, load_mesh

CONFIG = "envoy.yaml"


def prepare_edge_files(
    mesh_file: Path,
    environment: str,
    base: Path,
    issuer_key: Path,
    *,
    per_service: bool = False,
    tls: bool = True,
    otlp_endpoint: str | None = None,
) -> Path:
    """Write what Envoy runs on where its config expects it; returns the config's path.

    The descriptor set, JWKS, SDS files and API pages go where `gateway.config.FILES`
    says for the environment, under `base` (locally the run dir; in a
    container `/`, where the paths are absolute); the config goes beside the
    descriptor set. The SDS files point Envoy at the edge's certificate in
    the certs folder, which `protomesh certs` fills (locally) or a volume
    is mounted on (containers: made here, so the mount point exists even in
    a read-only config volume). `per_service` routes to one address per
    service (its Kubernetes Service) instead of one per replica; `tls=False`
    only for a mesh run with PROTOMESH_INSECURE=1; `otlp_endpoint` traces to
    that collector whatever the registry says (`protomesh up --otlp`).
    """
    catalogue = load_catalogue()
    files = FILES[environment]
    descriptor, jwks = (base / path.lstrip("/") for path in (files.descriptor, files.jwks))
    directory = descriptor.parent
    directory.mkdir(parents=True, exist_ok=True)
    issuer = DevIssuer(issuer_key)
    issuer.ensure_key()
    issuer.write_jwks(jwks)
    write_edge_descriptor_set(DESCRIPTOR_SET, descriptor)
    if tls:
        (base / files.certs.lstrip("/")).mkdir(parents=True, exist_ok=True)
        write_secret_documents(base / files.sds.lstrip("/"), files.certs)
    mesh = load_mesh(mesh_file, catalogue)
    if files.pages is not None:
        write_pages(base / files.pages.lstrip("/"), mesh)
    if per_service:
        mesh = one_address_per_service(mesh, environment)
    config = directory / CONFIG
    rendered = render(mesh, environment, catalogue, files, tls=tls, otlp_endpoint=otlp_endpoint)
    config.write_text(as_yaml(rendered, environment))
    return config


def load_catalogue() -> RpcCatalogue:
    """The contracts' RPCs, from the descriptor set `make gen` writes."""
    if not DESCRIPTOR_SET.exists():
        raise RenderError(f"no descriptor set at {DESCRIPTOR_SET}: run `make gen` first")
    return RpcCatalogue.load(DESCRIPTOR_SET)


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
