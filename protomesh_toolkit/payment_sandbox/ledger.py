"""The provider's books: authorisations by request reference, and the injected faults.

Thread-safe (the HTTP server answers each request on its own thread). A
request reference seen before gets the first answer again, which is how the
provider promises "one charge per reference"; the same reference with other
details is refused (E409).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

APPROVED = "AUTH_OK"
DECLINED = "E102"
OUTAGE = "E500"
CONFLICT = "E409"
BAD_REQUEST = "E400"
NOT_FOUND = "E404"
VOIDED = "VOID_OK"
# What "garble" answers: a code the provider's documentation never mentioned.
UNDOCUMENTED = "E777"
MODES = ("slow", "fail", "decline", "garble")


def stamp(moment: datetime) -> str:
    """The provider's timestamp format: 20261205T201500Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Fault:
    mode: str
    remaining: int
    delay: float = 0.0


@dataclass
class Authorisation:
    auth_id: str
    request_ref: str
    amount: str
    ccy: str
    state: str  # HELD | VOIDED
    processed_at: str

    def shown(self) -> dict[str, Any]:
        return {
            "auth_id": self.auth_id,
            "request_ref": self.request_ref,
            "amount": self.amount,
            "ccy": self.ccy,
            "state": self.state,
            "processed_at": self.processed_at,
        }


@dataclass
class Ledger:
    by_ref: dict[str, tuple[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    authorisations: dict[str, Authorisation] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, mode: str, count: int, delay: float) -> None:
        with self.lock:
            self.faults.append(Fault(mode, count, delay))

    def next_fault(self) -> Fault | None:
        """The fault the next call suffers, if one is queued; each call spends one."""
        with self.lock:
            while self.faults and self.faults[0].remaining <= 0:
                self.faults.pop(0)
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.remaining -= 1
            return Fault(fault.mode, 1, fault.delay)

    def authorise(self, ref: str, body: dict[str, Any], decline: bool) -> dict[str, Any]:
        amount, ccy = str(body.get("amount", "")), str(body.get("ccy", ""))
        try:
            valid = Decimal(amount) > 0 and len(ccy) == 3
        except InvalidOperation:
            valid = False
        if not valid:
            return {"result_code": BAD_REQUEST, "auth_id": None}
        with self.lock:
            seen = self.by_ref.get(ref)
            if seen is not None:
                details, answer = seen
                if details != (amount, ccy):
                    return {"result_code": CONFLICT, "auth_id": None}
                return answer
            now = stamp(datetime.now(UTC))
            if decline:
                answer = {"result_code": DECLINED, "auth_id": None, "processed_at": now}
            else:
                auth_id = "AU" + secrets.token_hex(8).upper()
                self.authorisations[auth_id] = Authorisation(auth_id, ref, amount, ccy, "HELD", now)
                answer = {
                    "result_code": APPROVED,
                    "auth_id": auth_id,
                    "amount": amount,
                    "ccy": ccy,
                    "processed_at": now,
                }
            self.by_ref[ref] = ((amount, ccy), answer)
            return answer

    def void(self, auth_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.authorisations.get(auth_id)
            if found is None:
                return {"result_code": NOT_FOUND}
            found.state = "VOIDED"
            return {"result_code": VOIDED, "processed_at": stamp(datetime.now(UTC))}

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a.shown() for a in self.authorisations.values()]
