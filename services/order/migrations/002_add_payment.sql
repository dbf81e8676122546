-- The hold on the customer's funds an order was placed on (the payment
-- gateway's reference; it holds exactly total_minor). NULL only for orders
-- placed before payments, and those can never be confirmed.
ALTER TABLE orders ADD COLUMN payment_reference text
    CHECK (payment_reference IS NULL OR length(payment_reference) BETWEEN 1 AND 128);
ALTER TABLE orders ADD CONSTRAINT orders_confirmed_are_paid
    CHECK (status IN ('PENDING', 'CANCELLED') OR payment_reference IS NOT NULL);
