-- The order context's own copy of the customer data it needs, fed by the user
-- context's events (UserRegistered, UserProfileChanged) through the
-- order-customer-directory consumer. The order role cannot read the user
-- schema; this table is how it knows a customer's name and email.
-- changed_at is the event's occurrence time: an older event arriving late
-- (a retry) never overwrites a newer one.
CREATE TABLE customer_directory (
    customer_id  uuid PRIMARY KEY,
    display_name text NOT NULL,
    email        text NOT NULL,
    changed_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
