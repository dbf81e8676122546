"""`python -m gateway openapi`: write the edge's OpenAPI document (`make gen` runs it).

The file is a build output, like the descriptor set it is made from: the
local cluster and the containers' edge-config job write their own copy next
to Envoy's config, from the registry they run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.openapi.bindings import BindingError
from gateway.openapi.contracts import Contracts
from gateway.openapi.document import as_json, openapi_document
from protomesh.paths import DESCRIPTOR_SET, ENVOY_DIR
from protomesh.registry import DEFAULT_MESH_FILE, RegistryError, RpcCatalogue, load_mesh

DEFAULT_OUTPUT = ENVOY_DIR / "openapi.json"


def openapi_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway openapi",
        description="Write the OpenAPI 3.1 document of the RPCs mesh.yaml's edge exposes.",
    )
    parser.add_argument(
        "--mesh", type=Path, default=DEFAULT_MESH_FILE, help="the registry (default: mesh.yaml)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write it, - for stdout (default: envoy/openapi.json)",
    )
    args = parser.parse_args(argv)
    if not DESCRIPTOR_SET.exists():
        print(
            f"gateway openapi: no descriptor set at {DESCRIPTOR_SET}: run `make gen`",
            file=sys.stderr,
        )
        return 2
    try:
        mesh = load_mesh(args.mesh, RpcCatalogue.load(DESCRIPTOR_SET))
        text = as_json(openapi_document(mesh, Contracts.load(DESCRIPTOR_SET)))
    except (RegistryError, BindingError) as error:
        print(f"gateway openapi: {error}", file=sys.stderr)
        return 2
    if str(args.output) == "-":
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0
