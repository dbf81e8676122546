-- Customers' orders. Lines are kept with their order (one row, one write);
-- amounts are integer minor units of the order's single currency.
CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    items       jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor bigint NOT NULL CHECK (total_minor >= 0),
    status      text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'CANCELLED')),
    version     integer NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- ListOrders walks one customer's orders newest first, by keyset (created_at, id).
CREATE INDEX orders_customer_newest ON orders (customer_id, created_at DESC, id DESC);
