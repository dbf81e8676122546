"""`protomesh affected`: which pipelines a change touches, and which tests they run.

From the same graph the workflows' path filters are rendered from
(protomesh_toolkit.pipelines): Python imports, proto imports, the consumer contracts
and mesh.yaml.
"""

from __future__ import annotations

import argparse
from typing import Any

from protomesh.paths import ROOT
from protomesh_toolkit.contracts.git_base import BaseUnavailable, NoBase
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout
from protomesh_toolkit.pipelines.affected import affected, base_for, changed_files, files_to_test
from protomesh_toolkit.pipelines.plan import current_plan


def _affected(args: argparse.Namespace, layout: Layout) -> int:
    pipelines = current_plan(ROOT)
    if args.tests_of:
        chosen = [p for p in pipelines if p.name in args.tests_of]
        unknown = set(args.tests_of) - {p.name for p in chosen}
        if unknown:
            names = ", ".join(p.name for p in pipelines)
            raise ClusterError(f"no pipeline {', '.join(sorted(unknown))} (there are: {names})")
        print("\n".join(files_to_test(chosen)))
        return 0
    try:
        base = base_for(ROOT, args.base)
    except (NoBase, BaseUnavailable) as reason:
        raise ClusterError(f"no base to compare with: {reason}") from None
    touched = affected(pipelines, changed_files(ROOT, base))
    if args.tests:
        print("\n".join(files_to_test(touched)))
    else:
        print("\n".join(p.name for p in touched))
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser(
        "affected",
        help="the pipelines (or tests) a change touches, from the dependency graph",
        description="Compare the working tree with a base commit and print the pipelines "
        "whose paths the change touches, one per line (none: nothing to run).",
    )
    parser.add_argument(
        "--base",
        metavar="REF",
        help="git revision to compare with (default: merge-base with main, or HEAD~1 on main)",
    )
    parser.add_argument("--tests", action="store_true", help="print their test files instead")
    parser.add_argument(
        "--tests-of", nargs="+", metavar="PIPELINE", help="the test files of named pipelines"
    )
    parser.set_defaults(run=_affected)
