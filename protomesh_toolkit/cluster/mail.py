"""The local mail sink as a cluster component (infrastructure.smtp).

Services that send mail (the user service's verification codes) hand it to
this SMTP server as they would to a relay; it delivers nothing and stores
each message in the run directory (`mail/`), where `protomesh mail` reads it.
"""

from __future__ import annotations

import socket
import sys

from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.layout import Layout

NAME = "smtp"
PROBE_TIMEOUT = 1.0


class MailSinkProcess(Component):
    kind = "smtp"

    def __init__(self, port: int, layout: Layout) -> None:
        super().__init__(NAME, port, layout)

    def launch(self, timeout: float) -> int:
        command = [
            sys.executable,
            "-m",
            "protomesh_toolkit.mail.sink",
            f"--host={HOST}",
            f"--port={self.port}",
            f"--out={self.layout.mail_dir}",
        ]
        return self.spawn(command)

    def probe(self) -> Health:
        return probe_mail_sink(self.port)


def probe_mail_sink(port: int) -> Health:
    """Healthy when it greets like an SMTP server (a 220 banner)."""
    try:
        with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT) as connection:
            banner = connection.recv(64)
    except OSError as error:
        return Health(False, f"no answer ({error.strerror or error})")
    if banner.startswith(b"220"):
        return Health(True, "accepting SMTP")
    return Health(False, f"not an SMTP greeting: {banner[:20]!r}")
