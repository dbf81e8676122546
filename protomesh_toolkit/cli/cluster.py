"""`protomesh up | down | status | logs`: run the local cluster and look at it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from protomesh.registry import Mesh, RegistryError, load_mesh
from protomesh_toolkit.cluster import daemon, logfiles, status, supervisor
from protomesh_toolkit.layout import Layout

DEFAULT_TIMEOUT = 30.0


def _up(args: argparse.Namespace, layout: Layout) -> int:
    load_mesh(layout.mesh_file)  # a broken mesh.yaml fails here, before any process starts
    return daemon.start(layout, args.timeout, otlp=args.otlp)


def _down(args: argparse.Namespace, layout: Layout) -> int:
    supervisor.down(layout, purge=args.purge)
    return 0


def _status(args: argparse.Namespace, layout: Layout) -> int:
    statuses = status.collect(layout, _mesh_if_valid(layout))
    print(status.as_json(statuses, layout) if args.json else status.as_table(statuses, layout))
    return status.exit_code(statuses)


def _logs(args: argparse.Namespace, layout: Layout) -> int:
    mesh = _mesh_if_valid(layout)
    known = mesh.start_order if mesh is not None else ()
    pretty = sys.stdout.isatty() if args.pretty is None else args.pretty
    logfiles.show(layout, known, args.name, follow=args.follow, tail=args.tail, pretty=pretty)
    return 0


def _mesh_if_valid(layout: Layout) -> Mesh | None:
    """status and logs work from the run directory alone, even with a broken mesh.yaml."""
    try:
        return load_mesh(layout.mesh_file)
    except RegistryError as error:
        print(f"protomesh: warning: {error}", file=sys.stderr)
        return None


def register(commands: argparse._SubParsersAction[Any]) -> None:
    up = commands.add_parser(
        "up",
        help="start the local cluster in the background",
        description="Start every component of mesh.yaml that is not running, in dependency "
        "order, and print the endpoints. Components that have exited since the last `up` "
        "are restarted; running ones are left alone. A supervisor stays behind and "
        "restarts a component that exits (`down` stops it first).",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each component gets to become healthy (default {DEFAULT_TIMEOUT:.0f})",
    )
    up.add_argument(
        "--otlp",
        action="store_true",
        help="also run a local OTLP receiver and send every service's and the edge's traces "
        "to it (`protomesh traces` reads them)",
    )
    up.set_defaults(run=_up)

    status_command = commands.add_parser(
        "status",
        help="show each component, checked live",
        description="Exit code: 0 all healthy, 1 something is not, 3 nothing is running.",
    )
    status_command.add_argument("--json", action="store_true", help="machine-readable output")
    status_command.set_defaults(run=_status)

    logs = commands.add_parser("logs", help="print or follow the components' logs")
    logs.add_argument("name", nargs="?", help="one component (default: all, name-prefixed)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--tail", type=int, metavar="N", help="only the last N lines of each")
    logs.add_argument(
        "--pretty",
        action=argparse.BooleanOptionalAction,
        help="JSON log lines as readable text (default: when printing to a terminal)",
    )
    logs.set_defaults(run=_logs)

    down = commands.add_parser("down", help="stop the local cluster (data is kept)")
    down.add_argument(
        "--purge", action="store_true", help="also delete the run directory: data, secrets, logs"
    )
    down.set_defaults(run=_down)
