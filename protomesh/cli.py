"""`protomesh`: run the local cluster, regenerate code, check contracts.

Errors a user can act on (a port in use, an invalid mesh.yaml, a component
that would not start) print as one clear message and a non-zero exit code,
never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from protomesh.cluster import endpoints, logfiles, status, supervisor
from protomesh.cluster.errors import ClusterError
from protomesh.cluster.issuer import DevIssuer
from protomesh.cluster.layout import MESH_FILE_VARIABLE, RUN_DIR_VARIABLE, Layout, shown
from protomesh.edge_auth import ROLES_CLAIM
from protomesh.registry import Mesh, RegistryError, load_mesh

DEFAULT_TIMEOUT = 30.0
EPILOG = f"""\
environment:
  {RUN_DIR_VARIABLE}   where the cluster keeps data, secrets, logs and state (default: .run)
  {MESH_FILE_VARIABLE}  the registry to run (default: mesh.yaml)
  Set both to run a second cluster beside the first one.
"""


def _gen(argv: list[str]) -> int:
    from protomesh import codegen

    return codegen.main(argv)


def _contract_check(argv: list[str]) -> int:
    from protomesh.contracts import check

    return check.main(argv)


def _certs(argv: list[str]) -> int:
    from protomesh.certs import cli

    return cli.main(argv)


def _render_edge(argv: list[str]) -> int:
    from gateway import render_main

    return render_main(argv)


# Commands whose own parser reads the rest of the line (`protomesh gen --help` is theirs).
DELEGATED: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "gen": (_gen, "generate Python code and Envoy's descriptor set from proto/ (when stale)"),
    "contract-check": (_contract_check, "buf breaking and the REST route guard against a base"),
    "render-edge": (_render_edge, "render Envoy's config for each environment into envoy/"),
    "certs": (_certs, "the mesh's local CA: issue, list or rotate certificates (mTLS)"),
}


def _up(args: argparse.Namespace, layout: Layout) -> int:
    mesh = load_mesh(layout.mesh_file)
    supervisor.up(layout, mesh, args.timeout, otlp=args.otlp)
    print()
    print(endpoints.describe(mesh, layout))
    return 0


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


def _traces(args: argparse.Namespace, layout: Layout) -> int:
    from protomesh.cluster import state
    from protomesh.cluster.receiver import NAME as RECEIVER
    from protomesh.telemetry import trace_view

    spans = trace_view.read_spans(layout.traces_file)
    if not layout.traces_file.exists() and RECEIVER not in state.load(layout):
        raise ClusterError(
            f"no spans at {shown(layout.traces_file)}: start the cluster with `protomesh up --otlp`"
        )
    if args.trace_id is None:
        print(trace_view.render_list(spans, args.limit))
        return 0
    try:
        print(trace_view.render_tree(spans, args.trace_id))
    except KeyError:
        raise ClusterError(f"no trace {args.trace_id} in {shown(layout.traces_file)}") from None
    return 0


def _token(args: argparse.Namespace, layout: Layout) -> int:
    jwt = edge.jwt if (edge := load_mesh(layout.mesh_file).edge) is not None else None
    if jwt is None:
        raise ClusterError(f"{shown(layout.mesh_file)} has no edge.jwt: the edge takes no tokens")
    if not layout.issuer_key.exists():
        raise ClusterError(
            f"no dev issuer key at {shown(layout.issuer_key)}; `protomesh up` makes it"
        )
    audience = args.audience or jwt.audiences[0]
    issuer = DevIssuer(layout.issuer_key)
    claims = {ROLES_CLAIM: args.role} if args.role else None
    print(issuer.token(args.sub, issuer=jwt.issuer, audience=audience, ttl=args.ttl, claims=claims))
    return 0


def _edge_config(args: argparse.Namespace, layout: Layout) -> int:
    from protomesh.cluster.edge import prepare_edge_files

    issuer_key = args.root / str(args.issuer_key).lstrip("/")
    # Kubernetes containers listen on compose's ports; a service is one (headless) Service.
    kubernetes = args.environment == "kubernetes"
    environment = "compose" if kubernetes else args.environment
    config = prepare_edge_files(
        layout.mesh_file, environment, args.root, issuer_key, per_service=kubernetes
    )
    print(f"wrote {config} and the files it reads")
    return 0


def _mesh_if_valid(layout: Layout) -> Mesh | None:
    """status and logs work from the run directory alone, even with a broken mesh.yaml."""
    try:
        return load_mesh(layout.mesh_file)
    except RegistryError as error:
        print(f"protomesh: warning: {error}", file=sys.stderr)
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protomesh",
        description="Run the local cluster described by mesh.yaml; generate code; check contracts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="start the local cluster in the background",
        description="Start every component of mesh.yaml that is not running, in dependency "
        "order, and print the endpoints. Components that have exited since the last `up` "
        "are restarted; running ones are left alone.",
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

    traces = commands.add_parser(
        "traces",
        help="list the recent traces, or print one as a tree (needs `up --otlp`)",
        description="Read the spans the local OTLP receiver stored. Without a trace id, list "
        "the latest traces, newest first; with one, print its spans, each under its parent.",
    )
    traces.add_argument("trace_id", nargs="?", help="32 hex digits (Envoy logs it as trace_id)")
    traces.add_argument("-n", "--limit", type=int, default=20, help="traces to list (default 20)")
    traces.set_defaults(run=_traces)

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

    token = commands.add_parser(
        "token",
        help="print a JWT from the dev issuer, for the edge's routes that need one",
        description="Sign a token for an end user with the local cluster's dev issuer key "
        "(made by `up`). Use it as `authorization: Bearer <token>` on calls through the edge.",
    )
    token.add_argument("--sub", required=True, help="the end user (the token's subject)")
    token.add_argument(
        "--ttl", type=float, default=3600.0, help="seconds until it expires (default 3600)"
    )
    token.add_argument("--audience", help="default: the first of edge.jwt.audiences")
    token.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="a role for the token's roles claim, e.g. admin (repeatable)",
    )
    token.set_defaults(run=_token)

    edge_config = commands.add_parser(
        "edge-config",
        help="write Envoy's config, descriptor set and JWKS for a container environment",
        description="What compose's one-shot edge-config job (and the edge pod's init "
        "container) runs: render the edge for ENVIRONMENT and write it, with the files it "
        "reads, where that environment's Envoy looks for them (/etc/envoy). Makes the dev "
        "issuer key if missing.",
    )
    edge_config.add_argument("--environment", choices=("compose", "kubernetes"), default="compose")
    edge_config.add_argument(
        "--issuer-key", type=Path, required=True, help="the dev JWT issuer's private key file"
    )
    edge_config.add_argument(
        "--root", type=Path, default=Path("/"), help="the folder every path is under (default: /)"
    )
    edge_config.set_defaults(run=_edge_config)

    for name, (_, summary) in DELEGATED.items():
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        run, _ = DELEGATED[argv[0]]
        return run(argv[1:])
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args, Layout.from_environment())
    except (ClusterError, RegistryError) as error:
        print(f"protomesh {args.command}: {error}", file=sys.stderr)
        return 2 if isinstance(error, RegistryError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`protomesh logs | head`): stop quietly, as other CLIs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
