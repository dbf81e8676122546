-- The one verification code a user may currently use, and how many codes the
-- user was sent in the current hour. The code itself is never stored: only its
-- scrypt hash with a per-code salt. One row per user; a new code replaces it.
CREATE TABLE email_verifications (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_key         text NOT NULL,          -- the address the code was sent to
    code_hash         bytea NOT NULL,
    salt              bytea NOT NULL,
    expires_at        timestamptz NOT NULL,
    failed_attempts   integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    used              boolean NOT NULL DEFAULT false,
    window_started_at timestamptz NOT NULL,   -- the send budget's hour
    sends_in_window   integer NOT NULL CHECK (sends_in_window >= 0)
);
