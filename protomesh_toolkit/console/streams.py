"""Streams and durable consumers as NATS's monitoring endpoint (`/jsz`) reports them.

Read over plain HTTP from the monitor port: no client connection, nothing the
services notice. A consumer's lag is `num_pending` (messages on its stream it
has not been delivered yet) plus `num_ack_pending` (delivered, not yet acked).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

JSZ_TIMEOUT = 1.0
JSZ_PATH = "/jsz?accounts=true&streams=true&consumers=true"


@dataclass(frozen=True)
class ConsumerLag:
    stream: str
    durable: str
    pending: int  # not delivered yet
    ack_pending: int  # delivered, not acknowledged yet
    redelivered: int
    waiting: int  # pull requests waiting: 0 means no client is pulling (its service is down)

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


@dataclass(frozen=True)
class StreamState:
    name: str
    messages: int
    last_seq: int
    consumers: tuple[ConsumerLag, ...]


def read(document: dict[str, Any]) -> list[StreamState]:
    """The streams of every account in a `/jsz` answer, by name."""
    found = []
    for account in document.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            name = stream["name"]
            state = stream.get("state", {})
            consumers = tuple(
                ConsumerLag(
                    name,
                    consumer["name"],
                    int(consumer.get("num_pending", 0)),
                    int(consumer.get("num_ack_pending", 0)),
                    int(consumer.get("num_redelivered", 0)),
                    int(consumer.get("num_waiting", 0)),
                )
                for consumer in stream.get("consumer_detail") or []
            )
            found.append(
                StreamState(
                    name, int(state.get("messages", 0)), int(state.get("last_seq", 0)), consumers
                )
            )
    return sorted(found, key=lambda stream: stream.name)


def fetch(monitor_port: int, host: str = "127.0.0.1") -> list[StreamState]:
    url = f"http://{host}:{monitor_port}{JSZ_PATH}"
    with urllib.request.urlopen(url, timeout=JSZ_TIMEOUT) as reply:
        return read(json.loads(reply.read()))
