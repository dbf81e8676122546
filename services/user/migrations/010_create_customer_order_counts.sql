-- How many orders each customer has placed and cancelled, kept from the order
-- context's events (OrderPlaced, OrderCancelled) by the user-order-counts
-- consumer. Two counters instead of one running total: each event adds to one
-- of them, so the result is right whatever order the events arrive in.
CREATE TABLE customer_order_counts (
    customer_id     uuid PRIMARY KEY,
    placed_count    integer NOT NULL DEFAULT 0 CHECK (placed_count >= 0),
    cancelled_count integer NOT NULL DEFAULT 0 CHECK (cancelled_count >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
