-- Users of the shop. The email is unique case-insensitively (email_key is its
-- lower-cased, trimmed form, kept by the application and indexed here).
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    email_key      text NOT NULL,
    display_name   text NOT NULL CHECK (length(display_name) <= 201),
    given_name     text NOT NULL DEFAULT '' CHECK (length(given_name) <= 100),
    family_name    text NOT NULL DEFAULT '' CHECK (length(family_name) <= 100),
    email_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_email_key_unique ON users (email_key);

-- Keyset pagination walks (created_at, id).
CREATE INDEX users_created_at_id ON users (created_at, id);
