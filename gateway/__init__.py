"""The edge's control plane: mesh.yaml → Envoy's configuration, rendered with pyyaml.

`render()` builds one environment's config from the registry and the
contracts; `render_main()` is `python -m gateway` (and `protomesh render-edge`).
"""

from __future__ import annotations

from gateway.cli import render_main
from gateway.config import EdgeFiles, RenderError, render

__all__ = ["EdgeFiles", "RenderError", "render", "render_main"]
