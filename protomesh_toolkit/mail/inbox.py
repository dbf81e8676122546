"""Reading what the local mail sink stored (`protomesh mail`, and the tests)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# The user service's verification mail: "... this email address is 123456."
_CODE = re.compile(r"\bis (\d{6})\b")


@dataclass(frozen=True)
class ReceivedMail:
    received_at: str
    sender: str
    to: tuple[str, ...]
    subject: str
    body: str

    def is_for(self, address: str) -> bool:
        wanted = address.strip().lower()
        return any(recipient.lower() == wanted for recipient in self.to)


def received(directory: Path, *, to: str | None = None) -> list[ReceivedMail]:
    """Messages oldest first, only those for `to` when given."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("[!.]*.json")):
        raw = json.loads(path.read_text())
        mail = ReceivedMail(
            raw["received_at"], raw["from"], tuple(raw["to"]), raw["subject"], raw["body"]
        )
        if to is None or mail.is_for(to):
            found.append(mail)
    return found


def verification_code(mail: ReceivedMail) -> str | None:
    found = _CODE.search(mail.body)
    return None if found is None else found.group(1)
