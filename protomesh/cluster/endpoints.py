"""What `protomesh up` prints last: where each component listens, and commands to try.

The commands are printed to be pasted as they are, so they name the tools by
the path that works from the current directory and create a user with a fresh
email each time (a second CreateUser with the same email is ALREADY_EXISTS).
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
from pathlib import Path

from protomesh.cluster.components import ENVIRONMENT, Postgres, ServiceProcess, components
from protomesh.cluster.layout import Layout, shown
from protomesh.cluster.ports import HOST
from protomesh.codegen import tool
from protomesh.registry import Mesh

USER_CONTRACT = "shop.user.v1.UserService"


def describe(mesh: Mesh, layout: Layout) -> str:
    parts = components(mesh, layout)
    width = max([8, *(len(name) for name in parts)])
    lines = [f"Endpoints ({ENVIRONMENT}):"]
    for component in parts.values():
        pad = " " * width
        if isinstance(component, Postgres):
            lines.append(f"  {component.name:<{width}}  {component.dsn()}")
            lines.append(f"  {pad}  password file: {shown(component.password_file)}")
        elif isinstance(component, ServiceProcess):
            address = f"{HOST}:{component.port}"
            lines.append(f"  {component.name:<{width}}  grpc {address}  (plaintext, reflection on)")
            lines.append(f"  {pad}  serves {', '.join(component.service.serves) or 'nothing'}")
        lines.append(f"  {pad}  log: {shown(component.log)}")
    lines += ["", "Try it:"]
    for component in parts.values():
        if isinstance(component, ServiceProcess):
            lines += _examples(component)
    lines += [
        "",
        "It keeps running in the background: `protomesh status`, `protomesh logs NAME -f`,",
        "`protomesh down` (keeps the data; `--purge` deletes it).",
    ]
    return "\n".join(lines)


def _examples(service: ServiceProcess) -> list[str]:
    grpcurl = f"{shlex.quote(shown(Path(tool('grpcurl'))))} -plaintext"
    address = f"{HOST}:{service.port}"
    examples = [f"  {grpcurl} {address} list"]
    if USER_CONTRACT in service.service.serves:
        python = shlex.quote(shown(Path(sys.executable)))
        email = f"ada.{secrets.token_hex(3)}@example.com"
        create = shlex.quote(json.dumps({"email": email, "display_name": "Ada Lovelace"}))
        get = r'"{\"user_id\": \"$USER_ID\"}"'  # double quotes: the shell fills in $USER_ID
        user_id = """'import json, sys; print(json.load(sys.stdin)["user"]["user_id"])'"""
        examples += [
            "  # create a user and keep its id, then read it back",
            f"  USER_ID=$({grpcurl} -d {create} {address} {USER_CONTRACT}/CreateUser"
            f" | {python} -c {user_id})",
            f"  {grpcurl} -d {get} {address} {USER_CONTRACT}/GetUser",
        ]
    return examples
