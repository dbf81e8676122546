"""The read model's tables, as one set that a rebuild replaces whole.

A set is four tables sharing a suffix: the live set has none, a rebuild
fills `_new` and swaps it in (`rebuild.swap`). The ids of the events a set
holds live in the set itself (`applied_events`), so after a swap the live
projector skips exactly the events the rebuilt model already contains.
"""

from __future__ import annotations

import asyncpg

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

SUMMARIES = "customer_summaries"
ORDERS = "order_totals"
POSITIONS = "stream_positions"
APPLIED = "applied_events"
# In the order the live projector first writes them (`projection.apply_event`: the
# event's id, then the summary, the order, the stream position). A swap locks them in
# this order, so it queues behind a projector mid-event instead of deadlocking with it.
NAMES = (APPLIED, SUMMARIES, ORDERS, POSITIONS)
NEW = "_new"

_DDL = """
CREATE TABLE IF NOT EXISTS {summaries} (
    customer_id      text PRIMARY KEY,
    display_name     text NOT NULL DEFAULT '',
    orders_placed    bigint NOT NULL DEFAULT 0,
    orders_cancelled bigint NOT NULL DEFAULT 0,
    spent            jsonb NOT NULL DEFAULT '{{}}',  -- currency code -> minor units
    last_order_time  timestamptz
);
CREATE TABLE IF NOT EXISTS {orders} (
    order_id      text PRIMARY KEY,
    customer_id   text NOT NULL,
    currency_code text NOT NULL,
    amount_minor  bigint NOT NULL,
    cancelled     boolean NOT NULL
);
CREATE TABLE IF NOT EXISTS {positions} (
    stream     text PRIMARY KEY,
    sequence   bigint NOT NULL,
    event_time timestamptz NOT NULL,
    applied_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {applied} (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
-- The pruner deletes the oldest ids past their retention (protomesh.pruning).
CREATE INDEX IF NOT EXISTS {applied_index} ON {applied} (processed_at);
"""


def table(name: str, suffix: str = "") -> str:
    return f"{name}{suffix}"


def applied_index(suffix: str = "") -> str:
    """The index the pruner reads; a swap renames it with its table (names are per schema)."""
    return f"{table(APPLIED, suffix)}_processed_at"


async def create_tables(connection: Connection, suffix: str = "") -> None:
    """Create the set with this suffix if missing (the live set at every start)."""
    await connection.execute(
        _DDL.format(
            summaries=table(SUMMARIES, suffix),
            orders=table(ORDERS, suffix),
            positions=table(POSITIONS, suffix),
            applied=table(APPLIED, suffix),
            applied_index=applied_index(suffix),
        )
    )


async def install_read_model(connection: Connection) -> None:
    """The live set, for `open_service_database(installs=...)`."""
    await create_tables(connection)
