-- The user aggregate's event number in the outbox: UserRegistered is 0 and each
-- later change event takes the next, so consumers can apply a user's events in
-- order. The outbox table itself is installed by protomesh.outbox at start.
ALTER TABLE users ADD COLUMN event_sequence bigint NOT NULL DEFAULT 0 CHECK (event_sequence >= 0);
