"""`protomesh certs`: issue, list and rotate the mesh's certificates.

    protomesh certs issue            # what is missing or close to expiry (safe to repeat)
    protomesh certs rotate           # every leaf anew, same CA
    protomesh certs issue --new-ca   # a new CA too (restart everything after)
    protomesh certs list             # what exists, and when each expires
    protomesh certs issue --publish OUT   # and each identity's own set in OUT/<identity>/

Certificates go to the local cluster's run directory (`.run/certs`, or
`$PROTOMESH_RUN_DIR/certs`) unless `--dir` says otherwise. Private keys are
written 0600 and never printed.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from protomesh.registry import RegistryError, load_mesh
from protomesh_toolkit.certs.authority import LEAF_LIFETIME
from protomesh_toolkit.certs.issuance import Outcome, ensure_certificates, listing
from protomesh_toolkit.certs.publication import PublicationError, parse_owner, publish_each
from protomesh_toolkit.layout import Layout, shown


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protomesh certs", description="The mesh's local CA: issue, list, rotate."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    issue = commands.add_parser("issue", help="issue what is missing, renew what is near expiry")
    issue.add_argument("--rotate", action="store_true", help="reissue every leaf")
    issue.add_argument("--new-ca", action="store_true", help="replace the CA as well")
    rotate = commands.add_parser("rotate", help="reissue every leaf (the CA stays)")
    listed = commands.add_parser("list", help="what exists, and when it expires")
    for command in (issue, rotate, listed):
        command.add_argument("--dir", type=Path, help="default: <run dir>/certs")
    for command in (issue, rotate):
        command.add_argument(
            "--publish",
            type=Path,
            metavar="OUT",
            help="also copy each identity's own certificate, key and the CA certificate into "
            "OUT/<identity>/, for every such folder that exists (compose: one volume each)",
        )
        command.add_argument(
            "--owner", metavar="UID:GID", help="the owner of what --publish writes"
        )
        command.add_argument(
            "--hours",
            type=float,
            default=LEAF_LIFETIME.total_seconds() / 3600,
            help="lifetime of new leaves (default %(default)g)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = Layout.from_environment()
    directory: Path = args.dir or layout.certs_dir
    if args.dir is None and args.command != "list":
        layout.prepare()  # the run directory `protomesh up` will use, made the same way
    if args.command == "list":
        found = listing(directory)
        if not found:
            print(f"No certificates in {shown(directory)}; `protomesh certs issue` makes them.")
            return 1
        print(_table(found))
        return 0
    try:
        mesh = load_mesh(layout.mesh_file)
    except RegistryError as error:
        print(f"protomesh certs: {error}", file=sys.stderr)
        return 2
    outcomes = ensure_certificates(
        mesh,
        directory,
        rotate=args.command == "rotate" or args.rotate,
        new_ca=getattr(args, "new_ca", False),
        lifetime=datetime.timedelta(hours=args.hours),
    )
    print(f"Certificates in {shown(directory)} (trust domain {mesh.trust_domain}):")
    print(_table(outcomes))
    if args.publish is not None:
        try:
            owner = parse_owner(args.owner) if args.owner else None
            published = publish_each(directory, args.publish, owner)
        except PublicationError as error:
            print(f"protomesh certs: {error}", file=sys.stderr)
            return 1
        print(f"Published to {args.publish}: {', '.join(published) or 'no identity folder'}.")
    return 0


def _table(outcomes: Sequence[Outcome]) -> str:
    now = datetime.datetime.now(datetime.UTC)
    width = max(len(o.name) for o in outcomes)
    lines = []
    for outcome in outcomes:
        left = outcome.expires - now
        hours = left.total_seconds() / 3600
        when = (
            "EXPIRED"
            if hours <= 0
            else f"in {hours:.1f} h"
            if hours < 72
            else f"in {hours / 24:.0f} d"
        )
        reason = f" ({outcome.reason})" if outcome.reason else ""
        expires = f"{outcome.expires:%Y-%m-%d %H:%M} UTC"
        lines.append(
            f"  {outcome.name:<{width}}  {outcome.action:<8} expires {expires}, {when}; "
            f"serial {outcome.serial:x}{reason}"
        )
    return "\n".join(lines)
