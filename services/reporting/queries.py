"""Read the model: one customer's summary and how fresh the model is, from one snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.reporting.domain import CustomerSummary
from services.reporting.tables import POSITIONS, SUMMARIES


@dataclass(frozen=True)
class StreamPosition:
    stream: str
    sequence: int
    event_time: datetime
    applied_at: datetime


@dataclass(frozen=True)
class Answer:
    summary: CustomerSummary | None
    freshness: list[StreamPosition]


class SummaryQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def customer_summary(self, customer_id: str) -> Answer:
        """The summary and the positions it reflects, read in one snapshot (a swap in
        between cannot pair one table set's summary with the other's positions)."""
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await connection.fetchrow(
                "SELECT display_name, orders_placed, orders_cancelled, spent, last_order_time"
                f" FROM {SUMMARIES} WHERE customer_id = $1",
                customer_id,
            )
            positions = await connection.fetch(
                f"SELECT stream, sequence, event_time, applied_at FROM {POSITIONS} ORDER BY stream"
            )
        summary = None
        if row is not None:
            summary = CustomerSummary(
                customer_id,
                row["display_name"],
                row["orders_placed"],
                row["orders_cancelled"],
                {code: int(amount) for code, amount in json.loads(row["spent"]).items()},
                row["last_order_time"],
            )
        return Answer(summary, [StreamPosition(*position) for position in positions])
