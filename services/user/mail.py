"""The mail port of the user context: how a use case hands a message to whoever
delivers mail. The SMTP adapter is services/user/smtp_mailer.py; unit tests use
an in-memory fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Deliver to the next hop; raises protomesh.errors.Unavailable when it refuses or
        cannot be reached, so the caller can roll back and the user can ask again."""


def verification_mail(to: str, code: str, minutes: int) -> Mail:
    return Mail(
        to=to,
        subject="Your verification code",
        body=(
            f"Your code to verify this email address is {code}.\n\n"
            f"It works once, for {minutes} minutes. If you did not ask for it, ignore this"
            " message.\n"
        ),
    )
