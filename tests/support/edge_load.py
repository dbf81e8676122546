"""A mixed load through the edge, as a REST client following the README would send it.

Users sign up, then place orders with an Idempotency-Key, read and cancel them.
A write that fails with a retryable status (503, or a connection error) is
retried with the same key, as the README tells users to; every outcome is
kept, so a test can say how many requests failed and with what.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 10.0  # longer than any route's timeout: a hang shows as a timeout, not a wait
ITEMS = [
    {"sku": "BOOK-1", "quantity": 1, "unit_price": {"currency_code": "EUR", "amount_minor": 1250}}
]


@dataclass(frozen=True)
class Outcome:
    operation: str
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)
    at: float  # time.monotonic() when it was answered
    elapsed: float  # seconds from sending to the answer
    detail: str = ""


@dataclass
class EdgeClient:
    port: int
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if key is not None:
            headers["idempotency-key"] = key
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        sent = time.monotonic()
        try:
            connection.request(method, path, json.dumps(body) if body else None, headers)
            response = connection.getresponse()
            status, text = response.status, response.read().decode()
        except OSError as error:
            status, text = 0, f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with self.lock:
            now = time.monotonic()
            self.outcomes.append(Outcome(operation, status, now, now - sent, text[:300]))
        try:
            document = json.loads(text) if status else {}
        except ValueError:
            document = {}
        return status, document if isinstance(document, dict) else {}

    def sign_up(self) -> str:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        status, body = self.call(
            "create_user", "POST", "/v1/users", body={"email": email, "display_name": "L"}
        )
        assert status == 200, body
        return str(body["user"]["user_id"])

    def place_order(self, user_id: str, token: str, key: str, retries: int = 5) -> str | None:
        """Place once, retrying a retryable failure with the same key; the order id, or None."""
        body = {"customer_id": user_id, "items": ITEMS}
        for attempt in range(retries + 1):
            status, reply = self.call(
                "place_order", "POST", "/v1/orders", body=body, token=token, key=key
            )
            if status == 200:
                return str(reply["order"]["order_id"])
            if status not in (0, 503) or attempt == retries:
                return None
            time.sleep(0.2 * (attempt + 1))
        return None


@contextmanager
def running(workers: int, work: Callable[[int, threading.Event], None]) -> Iterator[None]:
    """`workers` threads each running `work(index, stop)` while the block runs."""
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(index, stop)) for index in range(workers)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT * 2)
