"""List the dead-letter stream and replay a parked message to where it came from.

Shared by the console page and `protomesh dlq`. A dead letter sits on
`dlq.<original subject>` with the original headers plus the parking record
(`protomesh.bus.dead_letters`). Replaying it:

- publishes the original bytes to the original subject, with the original
  headers (`ce-id` — the event id — `ce-type`, `traceparent`, ...) and without
  the `dlq-*` record, so the consumers see the event exactly as first sent;
- gives it a new `Nats-Msg-Id`, `replay:<dead-letter sequence>:<original id>`.
  The original id would be dropped by JetStream as a duplicate while the
  stream's duplicate window (10 minutes) still remembers the first publish;
  the new one still makes a double-submitted replay of the same dead letter
  land once. Consumers deduplicate by the event id (`ce-id`), which is kept:
  a consumer that had handled the event skips it, the one that parked it
  tries again;
- deletes the dead letter only once JetStream acknowledged the publish. If
  the consumer fails again, it parks a new dead letter (a new stream
  position, so a new record) with the new reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import nats
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from protomesh.bus.cloudevents import CE_ID, CE_TYPE, MSG_ID
from protomesh.bus.connection import tls_context
from protomesh.bus.dead_letters import (
    CONSUMER,
    DELIVERIES,
    ORIGINAL_MSG_ID,
    REASON,
    STREAM,
    STREAM_SEQUENCE,
    SUBJECT_PREFIX,
)
from protomesh.bus.streams import DEAD_LETTERS
from protomesh.tls.files import TlsFiles, insecure
from protomesh_toolkit.certs.issuance import OPERATOR
from protomesh_toolkit.layout import Layout

TIMEOUT = 3.0
PARKING_RECORD = (REASON, DELIVERIES, CONSUMER, STREAM, STREAM_SEQUENCE, ORIGINAL_MSG_ID)
T = TypeVar("T")


class DeadLetterError(Exception):
    """What went wrong, said for the operator (no such letter, NATS unreachable)."""


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # its position in DEAD_LETTERS: how it is named for replay
    subject: str  # the original subject
    reason: str
    consumer: str
    deliveries: str
    event_type: str
    event_id: str
    parked_at: datetime | None
    size: int
    headers: dict[str, str]
    data: bytes

    def replay_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in self.headers.items() if k not in PARKING_RECORD}
        original = self.headers.get(ORIGINAL_MSG_ID, "")
        headers[MSG_ID] = f"replay:{self.sequence}:{original}"
        return headers


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    stream: str  # where the publish landed
    stream_sequence: int
    duplicate: bool  # JetStream had it already (a repeated replay inside the window)


def operator_tls(layout: Layout) -> TlsFiles | None:
    """The operator's certificate, which the mesh's tls:// NATS admits with every
    permission; None when the cluster runs insecure (plaintext NATS)."""
    return None if insecure() else TlsFiles.of(layout.certs_dir, OPERATOR)


async def _with_nats(
    url: str, work: Callable[[Client], Awaitable[T]], tls: TlsFiles | None = None
) -> T:
    async def quiet(error: Exception) -> None:
        """Failures surface as DeadLetterError below; nats-py would print each attempt."""

    try:
        client = await nats.connect(
            url,
            name="protomesh-console",
            # One attempt: 0 would mean "retry forever" to nats-py.
            max_reconnect_attempts=1,
            allow_reconnect=False,
            connect_timeout=TIMEOUT,
            error_cb=quiet,
            **({} if tls is None else {"tls": tls_context(tls)}),
        )
    except Exception as error:  # nats-py raises several kinds for "not there"
        raise DeadLetterError(f"NATS at {url} is not reachable ({error})") from None
    try:
        return await work(client)
    finally:
        await client.close()


async def _list(client: Client, limit: int) -> list[DeadLetter]:
    js = client.jetstream(timeout=TIMEOUT)
    try:
        info = await js.stream_info(DEAD_LETTERS.name)
    except NotFoundError:
        return []  # no consumer has parked anything since NATS started afresh
    letters: list[DeadLetter] = []
    sequence = info.state.last_seq
    while sequence >= max(info.state.first_seq, 1) and len(letters) < limit:
        with contextlib.suppress(NotFoundError):  # replayed (deleted) or aged out
            letters.append(_letter(await js.get_msg(DEAD_LETTERS.name, sequence)))
        sequence -= 1
    return letters


def _letter(message: nats.js.api.RawStreamMsg) -> DeadLetter:
    headers = dict(message.headers or {})
    data = message.data or b""
    return DeadLetter(
        sequence=int(message.seq or 0),
        subject=(message.subject or "").removeprefix(SUBJECT_PREFIX),
        reason=headers.get(REASON, ""),
        consumer=headers.get(CONSUMER, ""),
        deliveries=headers.get(DELIVERIES, ""),
        event_type=headers.get(CE_TYPE, ""),
        event_id=headers.get(CE_ID) or headers.get(ORIGINAL_MSG_ID) or "",
        parked_at=getattr(message, "time", None),
        size=len(data),
        headers=headers,
        data=data,
    )


async def _get(client: Client, sequence: int) -> DeadLetter:
    try:
        return _letter(await client.jetstream(timeout=TIMEOUT).get_msg(DEAD_LETTERS.name, sequence))
    except NotFoundError:
        raise DeadLetterError(
            f"no dead letter {sequence} in {DEAD_LETTERS.name} (replayed already, or aged out)"
        ) from None


async def _replay(client: Client, sequence: int) -> Replayed:
    js = client.jetstream(timeout=TIMEOUT)
    letter = await _get(client, sequence)
    ack = await js.publish(
        letter.subject, letter.data, timeout=TIMEOUT, headers=letter.replay_headers()
    )
    await js.delete_msg(DEAD_LETTERS.name, sequence)
    return Replayed(letter, ack.stream, ack.seq, bool(ack.duplicate))


def list_dead_letters(url: str, limit: int = 50, tls: TlsFiles | None = None) -> list[DeadLetter]:
    """The newest `limit` dead letters, newest first."""
    return asyncio.run(_with_nats(url, lambda client: _list(client, limit), tls))


def dead_letter(url: str, sequence: int, tls: TlsFiles | None = None) -> DeadLetter:
    """One dead letter by its sequence; DeadLetterError when there is none."""
    return asyncio.run(_with_nats(url, lambda client: _get(client, sequence), tls))


def replay(url: str, sequence: int, tls: TlsFiles | None = None) -> Replayed:
    return asyncio.run(_with_nats(url, lambda client: _replay(client, sequence), tls))
