"""An SMTP server (aiosmtpd) that stores every message as one JSON file and delivers nothing.

For the local cluster (`protomesh up` runs it on infrastructure.smtp's port) and
the tests: the user service sends its verification mail to it exactly as it
would to a relay, and `protomesh mail` shows what arrived. Not a relay: it
accepts any sender and recipient, keeps no index, and listens on loopback
unless told otherwise (compose, inside its private network).

    python -m protomesh_toolkit.mail.sink --port 58025 --out .run/mail
"""

from __future__ import annotations

import argparse
import email
import email.policy
import itertools
import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
_numbers = itertools.count()


def stored_message(envelope: Envelope, received_at: datetime) -> dict[str, object]:
    """What `protomesh mail` shows: the envelope's recipients and the text body."""
    content = envelope.content if isinstance(envelope.content, bytes) else b""
    message = email.message_from_bytes(content, policy=email.policy.default)
    body = message.get_body(("plain",)) if isinstance(message, email.message.EmailMessage) else None
    return {
        "received_at": received_at.isoformat(),
        "from": envelope.mail_from,
        "to": list(envelope.rcpt_tos),
        "subject": str(message.get("Subject", "")),
        "body": body.get_content() if body is not None else "",
    }


class StoringHandler:
    """aiosmtpd's DATA hook: write the message, then accept it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received_at = datetime.now(UTC)
        name = f"{received_at:%Y%m%dT%H%M%S%f}-{next(_numbers):06d}.json"
        partial = self.directory / f".{name}"
        partial.write_text(json.dumps(stored_message(envelope, received_at), indent=2))
        partial.rename(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"


def start(directory: Path, port: int, host: str = HOST) -> Controller:
    """The sink serving in a thread of this process (the tests use it this way)."""
    controller = Controller(StoringHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default=HOST, help="0.0.0.0 inside a container only")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="directory for the messages")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = start(args.out, args.port, args.host)
    print(f"mail sink on {args.host}:{args.port}, storing in {args.out}", flush=True)
    try:
        while not stop.wait(1.0):  # a timed wait, so the signal handlers get to run
            continue
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
