"""`protomesh token --sub X`: a JWT from the dev issuer, for the edge's protected routes."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.dev_issuer import DevIssuer
from protomesh.edge_auth import ROLES_CLAIM
from protomesh.registry import load_mesh
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown


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


def register(commands: argparse._SubParsersAction[Any]) -> None:
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
    token.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="a role for the token's roles claim, e.g. admin (repeatable)",
    )
    token.add_argument("--audience", help="default: the first of edge.jwt.audiences")
    token.set_defaults(run=_token)
