"""JetStream streams, declared in code and applied idempotently.

The runtime gives the means, each service names its streams: a context's
events go to one stream capturing `<context>.events.>` (the outbox derives
subjects that way), made by `events_stream("order")` → `ORDER_EVENTS`, on
file storage so they survive a restart, with a duplicate window inside which
a re-published event id is dropped by the server. Poison messages go to
`DEAD_LETTERS` (`dlq.>`), the one stream the runtime itself owns: every
consumer parks there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

log = logging.getLogger("protomesh.bus.streams")

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    duplicate_window: float = 600.0  # seconds; the relay's re-publishes must land inside it
    max_age: float = 7 * DAY

    def config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            description=self.description,
            subjects=list(self.subjects),
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
        )


def events_stream(context: str) -> StreamSpec:
    """The stream of one bounded context's events.

    >>> events_stream("order").name, events_stream("order").subjects
    ('ORDER_EVENTS', ('order.events.>',))
    """
    return StreamSpec(
        f"{context.upper()}_EVENTS", (f"{context}.events.>",), f"facts published by {context}"
    )


DEAD_LETTERS = StreamSpec(
    "DEAD_LETTERS",
    ("dlq.>",),
    "messages consumers parked: undecodable, unknown version, or failing past max deliveries",
    max_age=30 * DAY,
)


def stream_for(subject: str, specs: Sequence[StreamSpec]) -> str | None:
    """The name of the stream among `specs` that captures `subject`, None if none does.

    >>> stream_for("order.events.v1.OrderPlaced", [events_stream("order"), DEAD_LETTERS])
    'ORDER_EVENTS'
    >>> stream_for("billing.events.x", [events_stream("order")]) is None
    True
    """
    tokens = subject.split(".")
    for spec in specs:
        if any(_matches(pattern.split("."), tokens) for pattern in spec.subjects):
            return spec.name
    return None


def _matches(pattern: list[str], tokens: list[str]) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    for index, part in enumerate(pattern):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or part not in ("*", tokens[index]):
            return False
    return len(tokens) == len(pattern)


async def ensure_streams(js: JetStreamContext, specs: Sequence[StreamSpec]) -> None:
    """Create each stream, or update it to the declared config (safe on every start)."""
    for spec in specs:
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(spec.config())
            log.info("created stream %s", spec.name, extra={"subjects": list(spec.subjects)})
        else:
            await js.update_stream(spec.config())
