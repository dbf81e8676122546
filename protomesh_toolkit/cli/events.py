"""`protomesh events`: the event catalogue, from mesh.yaml and the contracts' descriptor set."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import RpcCatalogue, load_mesh
from protomesh_toolkit.contracts.event_catalogue import build_catalogue, event_messages, render
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown


def _events(args: argparse.Namespace, layout: Layout) -> int:
    if not DESCRIPTOR_SET.exists():
        raise ClusterError(f"no descriptor set at {shown(DESCRIPTOR_SET)}: run `protomesh gen`")
    # Checked against the contracts too: a declared type that is no message fails here.
    mesh = load_mesh(layout.mesh_file, RpcCatalogue.load(DESCRIPTOR_SET))
    catalogue = build_catalogue(mesh, event_messages(DESCRIPTOR_SET))
    if args.json:
        print(json.dumps(asdict(catalogue), indent=2))
    else:
        print(render(catalogue))
    return 1 if catalogue.problems else 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    events = commands.add_parser(
        "events",
        help="print the event catalogue: subject, type, versions, producer, consumers",
        description="List every event type the contracts define, with its NATS subject, its "
        "major versions, the service that produces it and those that consume it (mesh.yaml). "
        "Exits 1 when the registry and the contracts disagree (each problem is printed).",
    )
    events.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    events.set_defaults(run=_events)
