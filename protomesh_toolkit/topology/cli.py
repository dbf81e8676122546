"""`python -m protomesh_toolkit.topology`: write docker-compose.yml and deploy/k8s/ from mesh.yaml.

`--check` writes nothing and exits 1 listing every difference (the test suite
runs it). `secrets` makes the files compose reads its secrets from, once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from protomesh.paths import ROOT
from protomesh.registry import DEFAULT_MESH_FILE, RegistryError, load_mesh
from protomesh_toolkit.topology import compose
from protomesh_toolkit.topology.files import drift, rendered

SECRETS_DIRECTORY = 0o700
# Readable inside containers, whose user is not the file's owner; the folder keeps others out.
SECRET_FILE = 0o644


def write_secrets(root: Path, names: list[str]) -> list[Path]:
    """A random password per compose secret not yet made; returns the files made."""
    directory = root / compose.SECRETS_SOURCE
    directory.mkdir(mode=SECRETS_DIRECTORY, parents=True, exist_ok=True)
    made = []
    for name in names:
        try:
            descriptor = os.open(
                directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE
            )
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(24))
        made.append(directory / name)
    return made


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh_toolkit.topology",
        description="Render docker-compose.yml and deploy/k8s/ from mesh.yaml.",
    )
    parser.add_argument("action", nargs="?", choices=("render", "secrets"), default="render")
    parser.add_argument("--mesh", type=Path, default=DEFAULT_MESH_FILE)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to write into")
    parser.add_argument("--check", action="store_true", help="write nothing; fail on drift")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        mesh = load_mesh(args.mesh)
    except RegistryError as error:
        print(f"topology: {error}", file=sys.stderr)
        return 2
    if args.action == "secrets":
        names = sorted(compose.render(mesh)["secrets"])
        made = write_secrets(args.root, names)
        print(f"made {len(made)} of {len(names)} secrets in {compose.SECRETS_SOURCE}")
        return 0
    expected = rendered(mesh)
    if args.check:
        problems = drift(args.root, expected)
        for problem in problems:
            print(f"topology: {problem}", file=sys.stderr)
        if problems:
            print(
                "topology: run `python -m protomesh_toolkit.topology` to re-render", file=sys.stderr
            )
        return 1 if problems else 0
    for path, text in expected.items():
        target = args.root / path
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {path}")
    return 0
