"""mesh.yaml → Envoy's bootstrap configuration, for one environment.

The whole config is derived: listener and routes from the registry's `edge`
section, upstreams from its services, RPCs from the contracts' descriptor set.
Nothing in it is written by hand, and the output is deterministic, so a
committed copy can be compared with a fresh rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from gateway.listener import connection_manager
from gateway.openapi.serving import serve_pages
from gateway.routes import route_config
from gateway.strict_json import strict_json_filter
from gateway.tracing import otlp_cluster, tracing
from gateway.upstream_tls import NODE
from gateway.upstreams import UpstreamTls, cluster
from protomesh.registry import LOCAL, Mesh, RpcCatalogue
from protomesh.registry.model import LOOPBACK

HEADER = """\
# Envoy's configuration for the `{environment}` environment.
# Rendered from mesh.yaml by `python -m gateway`: do not edit; edit mesh.yaml and re-render.
"""


@dataclass(frozen=True)
class EdgeFiles:
    """Where Envoy finds its inputs, as Envoy sees the paths (relative to its working dir)."""

    descriptor: str
    jwks: str
    certs: str  # the directory `protomesh certs` publishes the mesh's certificates in
    sds: str  # the directory of the SDS files that point Envoy at them
    # The directory of the API document and its docs page (gateway.openapi.pages),
    # or None for an edge that serves neither (the benchmarks').
    pages: str | None = None


# Locally Envoy runs in the cluster's run directory, which holds all of them;
# in a container they are mounted under /etc/envoy.
FILES = {
    LOCAL: EdgeFiles("envoy/edge.binpb", "envoy/jwks.json", "certs", "envoy/sds", "envoy/pages"),
    "compose": EdgeFiles(
        "/etc/envoy/edge.binpb",
        "/etc/envoy/jwks.json",
        "/etc/envoy/certs",
        "/etc/envoy/sds",
        "/etc/envoy/pages",
    ),
}


class RenderError(Exception):
    """The registry cannot be rendered as asked (no edge, an unknown environment...)."""


def render(
    mesh: Mesh,
    environment: str,
    catalogue: RpcCatalogue,
    files: EdgeFiles,
    *,
    tls: bool = True,
    otlp_endpoint: str | None = None,
) -> dict[str, Any]:
    """The config; `tls=False` only for a mesh run with PROTOMESH_INSECURE=1.

    `otlp_endpoint` overrides the registry's for the environment (`protomesh up --otlp`).
    """
    edge = mesh.edge
    if edge is None:
        raise RenderError("mesh.yaml has no edge section: nothing to render")
    if environment not in mesh.environments:
        raise RenderError(f"mesh.yaml has no environment {environment!r}")
    # Locally everything stays on loopback; a container must listen on its own interface.
    listen = LOOPBACK if environment == LOCAL else "0.0.0.0"
    exposed = list(edge.exposed)
    upstreams = [s for s in mesh.services.values() if set(s.serves) & set(exposed)]
    upstream_tls = UpstreamTls(mesh.trust_domain, files.sds) if tls else None
    clusters = [cluster(service, edge, environment, upstream_tls) for service in upstreams]
    routes = route_config(mesh, edge, catalogue)
    manager = connection_manager(
        edge,
        routes,
        exposed,
        files.descriptor,
        files.jwks,
        strict_json=strict_json_filter(edge, catalogue),
    )
    if files.pages is not None:
        serve_pages(routes, manager, files.pages)
    endpoint = otlp_endpoint or mesh.telemetry.otlp_endpoints.get(environment)
    if endpoint is not None:
        manager["typed_config"]["tracing"] = tracing(mesh.telemetry.sample_rate)
        clusters.append(otlp_cluster(endpoint, environment))
    listener = {
        "name": "edge",
        "address": _socket(listen, edge.ports[environment]),
        "filter_chains": [{"filters": [manager]}],
    }
    return {
        "node": NODE,
        "admin": {"address": _socket(LOOPBACK, edge.admin_ports[environment])},
        "static_resources": {
            "listeners": [listener],
            "clusters": clusters,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the strict JSON filter's Lua script) as readable `|` blocks."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def as_yaml(config: dict[str, Any], environment: str) -> str:
    body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    return HEADER.format(environment=environment) + body


def _socket(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}
