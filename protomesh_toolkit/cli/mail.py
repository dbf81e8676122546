"""`protomesh mail [--to ADDRESS] [--last] [--code]`: what the local mail sink received.

So a developer can read the verification code the user service sent, without
a real mailbox. Newest last, as a terminal scrolls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown
from protomesh_toolkit.mail import inbox


def render(mail: inbox.ReceivedMail) -> str:
    return "\n".join(
        [
            f"--- {mail.received_at}",
            f"From:    {mail.sender}",
            f"To:      {', '.join(mail.to)}",
            f"Subject: {mail.subject}",
            "",
            mail.body.rstrip(),
            "",
        ]
    )


def _mail(args: argparse.Namespace, layout: Layout) -> int:
    directory: Path = args.dir or layout.mail_dir
    if not directory.is_dir():
        raise ClusterError(
            f"no mail at {shown(directory)}: `protomesh up` runs the mail sink"
            " (infrastructure.smtp in mesh.yaml)"
        )
    found = inbox.received(directory, to=args.to)
    if not found:
        print(f"no mail{f' to {args.to}' if args.to else ''} in {shown(directory)}")
        return 0
    if args.code:
        code = inbox.verification_code(found[-1])
        if code is None:
            raise ClusterError("the latest message carries no verification code")
        print(code)
        return 0
    shown_mail = found[-1:] if args.last else found[-args.limit :]
    print("\n".join(render(mail) for mail in shown_mail))
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    mail = commands.add_parser(
        "mail",
        help="show the mail the local mail sink received (verification codes)",
        description="Print the messages the cluster's mail sink stored, oldest first.",
    )
    mail.add_argument("--to", metavar="ADDRESS", help="only mail to this address")
    mail.add_argument("--last", action="store_true", help="only the latest message")
    mail.add_argument(
        "--code", action="store_true", help="print only the code in the latest message"
    )
    mail.add_argument("-n", "--limit", type=int, default=20, help="messages to show (default 20)")
    mail.add_argument("--dir", type=Path, help="the sink's directory (default: <run dir>/mail)")
    mail.set_defaults(run=_mail)
