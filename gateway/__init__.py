"""The edge's control plane: mesh.yaml → Envoy's configuration, rendered with pyyaml.

Everything that turns the registry into what Envoy runs on lives here:
`render()` builds one environment's config from the registry and the
contracts, `prepare.prepare_edge_files()` writes it with the files Envoy
reads (descriptor set, JWKS, SDS) for the local cluster and the containers,
and `python -m gateway` (`cli.main`) is the one command for both.
"""

from __future__ import annotations

from gateway.config import EdgeFiles, RenderError, render

__all__ = ["EdgeFiles", "RenderError", "render"]
