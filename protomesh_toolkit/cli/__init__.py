"""`protomesh`: run the local cluster, issue certificates and tokens, generate, guard contracts.

Each command lives in a module of its own and registers its parser here.
Errors a user can act on (a port in use, an invalid mesh.yaml, a component
that would not start) print as one clear message and a non-zero exit code,
never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from protomesh.registry import RegistryError
from protomesh_toolkit.cli import (
    affected,
    cluster,
    console,
    db,
    events,
    mail,
    restart,
    token,
    traces,
)
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import MESH_FILE_VARIABLE, RUN_DIR_VARIABLE, Layout

EPILOG = f"""\
environment:
  {RUN_DIR_VARIABLE}   where the cluster keeps data, secrets, logs and state (default: .run)
  {MESH_FILE_VARIABLE}  the registry to run (default: mesh.yaml)
  Set both to run a second cluster beside the first one.
"""


def _gen(argv: list[str]) -> int:
    from protomesh_toolkit import codegen

    return codegen.main(argv)


def _contract_check(argv: list[str]) -> int:
    from protomesh_toolkit.contracts import check

    return check.main(argv)


def _consumer_check(argv: list[str]) -> int:
    from protomesh_toolkit.contracts.consumers import cli

    return cli.main(argv)


def _certs(argv: list[str]) -> int:
    from protomesh_toolkit.certs import cli

    return cli.main(argv)


# Commands whose own parser reads the rest of the line (`protomesh gen --help` is theirs).
DELEGATED: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "gen": (_gen, "generate Python code and Envoy's descriptor set from proto/ (when stale)"),
    "contract-check": (_contract_check, "buf breaking and the REST route guard against a base"),
    "consumer-check": (
        _consumer_check,
        "every consumer contract a provider is named in, against today's protos",
    ),
    "certs": (_certs, "the mesh's local CA: issue, list or rotate certificates (mTLS)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protomesh",
        description="Run the local cluster described by mesh.yaml; generate code; check contracts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cluster, db, restart, traces, console, token, events, mail, affected):
        module.register(commands)
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
