"""The real mail sink (aiosmtpd) in the test process, and reading codes from what it got."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from protomesh_toolkit.mail import inbox, sink

CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class MailSink:
    port: int
    directory: Path

    @property
    def service_settings(self) -> dict[str, str]:
        """`user_service(..., **sink.service_settings)` sends its mail here."""
        return {"smtp_host": sink.HOST, "smtp_port": str(self.port)}

    def mail_for(self, address: str) -> list[inbox.ReceivedMail]:
        return inbox.received(self.directory, to=address)

    def code_for(self, address: str, timeout: float = 5.0) -> str:
        """The code in the latest mail to `address` (the service sent it before answering)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.mail_for(address)
            if mails:
                found = CODE.search(mails[-1].body)
                assert found is not None, mails[-1].body
                return found.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} in {self.directory}")
