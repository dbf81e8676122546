"""What a verification found: always the consumer, the method or event, and what broke."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Broken:
    consumer: str
    provider: str
    subject: str  # the method or event, with the field when one is to blame
    reason: str

    def __str__(self) -> str:
        return f"{self.consumer} relies on {self.provider}: {self.subject}: {self.reason}"
