"""`protomesh restart NAME`: a rolling restart of one service's replicas in the local cluster."""

from __future__ import annotations

import argparse
from typing import Any

from protomesh.registry import load_mesh
from protomesh_toolkit.cli.cluster import DEFAULT_TIMEOUT
from protomesh_toolkit.cluster import rolling
from protomesh_toolkit.layout import Layout


def _restart(args: argparse.Namespace, layout: Layout) -> int:
    rolling.restart(layout, load_mesh(layout.mesh_file), args.name, args.timeout)
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    command = commands.add_parser(
        "restart",
        help="restart a service's replicas one after the other (no failed request with two)",
        description="Drain each replica (SIGTERM), start it again and wait until it is SERVING "
        "and healthy in the edge before the next one goes.",
    )
    command.add_argument("name", help="a service (every replica) or one replica (order-2)")
    command.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each replica gets to become healthy (default {DEFAULT_TIMEOUT:.0f})",
    )
    command.set_defaults(run=_restart)
