"""`python -m gateway`: the one entry point that turns mesh.yaml into Envoy's config.

`python -m gateway` writes `envoy/<environment>.yaml` for every environment
of the registry (committed, so a reviewer sees what a mesh.yaml change does
to the edge), and `envoy/edge.binpb`, the descriptor set the transcoder reads
(a build output, like gen/). `--check` renders without writing and fails
when a committed file differs: the test suite runs it, so they cannot drift.

`python -m gateway prepare --environment compose|kubernetes` writes a
running Envoy's config with every file it reads (what compose's edge-config
job and the edge pod's init container run; the local cluster calls
`gateway.prepare` itself).

`python -m gateway openapi` writes the edge's OpenAPI document
(gateway/openapi/command.py).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from gateway.config import FILES, RenderError, as_yaml, render
from gateway.descriptors import write_edge_descriptor_set
from gateway.prepare import load_catalogue, prepare_edge_files
from protomesh.paths import DESCRIPTOR_SET, ENVOY_DIR
from protomesh.registry import DEFAULT_MESH_FILE, RegistryError, load_mesh

EDGE_DESCRIPTOR = ENVOY_DIR / "edge.binpb"


def rendered(mesh_file: Path) -> dict[str, str]:
    """The config text for each environment that has Envoy file locations."""
    catalogue = load_catalogue()
    mesh = load_mesh(mesh_file, catalogue)
    texts = {}
    for environment in mesh.environments:
        files = FILES.get(environment)
        if files is None:
            raise RenderError(
                f"no Envoy file locations for environment {environment!r} "
                f"(gateway.config.FILES knows {', '.join(FILES)})"
            )
        texts[environment] = as_yaml(render(mesh, environment, catalogue, files), environment)
    return texts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Render Envoy's configuration for every environment from mesh.yaml.",
    )
    parser.add_argument(
        "--mesh", type=Path, default=DEFAULT_MESH_FILE, help="the registry (default: mesh.yaml)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=ENVOY_DIR, help="where to write (default: envoy/)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a file in the output dir differs from a fresh rendering",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["prepare"]:
        return prepare_main(argv[1:])
    if argv[:1] == ["openapi"]:
        from gateway.openapi.command import openapi_main

        return openapi_main(argv[1:])
    return render_main(argv)


def prepare_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway prepare",
        description="Write Envoy's config for a container environment with the files it reads "
        "(descriptor set, JWKS, SDS) where that environment's Envoy looks for them. Makes the "
        "dev issuer key if missing.",
    )
    parser.add_argument("--environment", choices=("compose", "kubernetes"), default="compose")
    parser.add_argument(
        "--issuer-key", type=Path, required=True, help="the dev JWT issuer's private key file"
    )
    parser.add_argument(
        "--root", type=Path, default=Path("/"), help="the folder every path is under (default: /)"
    )
    parser.add_argument(
        "--mesh", type=Path, default=DEFAULT_MESH_FILE, help="the registry (default: mesh.yaml)"
    )
    args = parser.parse_args(argv)
    issuer_key = args.root / str(args.issuer_key).lstrip("/")
    # Kubernetes containers listen on compose's ports; a service is one (headless) Service.
    kubernetes = args.environment == "kubernetes"
    environment = "compose" if kubernetes else args.environment
    try:
        config = prepare_edge_files(
            args.mesh, environment, args.root, issuer_key, per_service=kubernetes
        )
    except (RegistryError, RenderError) as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    print(f"wrote {config} and the files it reads")
    return 0


def render_main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        texts = rendered(args.mesh)
    except (RegistryError, RenderError) as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    stale = []
    for environment, text in texts.items():
        target = args.output_dir / f"{environment}.yaml"
        current = target.read_text() if target.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(target)
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), str(target), "rendered", lineterm="", n=1
            )
            print("\n".join(list(diff)[:40]), file=sys.stderr)
        else:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target}")
    if args.check:
        if stale:
            names = ", ".join(str(path) for path in stale)
            print(
                f"gateway: {names} differ from mesh.yaml; run `python -m gateway`", file=sys.stderr
            )
            return 1
        return 0
    write_edge_descriptor_set(DESCRIPTOR_SET, args.output_dir / EDGE_DESCRIPTOR.name)
    return 0
