-- Console accounts and browser sessions (internal/account). Secrets are
-- stored as hashes only: passwords argon2id (PHC string), setup and session
-- tokens SHA-256.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    role          text        NOT NULL CHECK (role IN ('viewer', 'moderator', 'child-safety', 'curator', 'admin')),
    password_hash text        NOT NULL DEFAULT '',
    setup_hash    bytea       UNIQUE,
    setup_expires timestamptz,
    totp_secret   bytea,
    totp_step     bigint      NOT NULL DEFAULT 0,
    failed_logins integer     NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    last_login_at timestamptz
);

CREATE TABLE sessions (
    id         bigserial PRIMARY KEY,
    hash       bytea       NOT NULL UNIQUE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage      text        NOT NULL CHECK (stage IN ('full', 'totp', 'enrol')),
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    remote     text        NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
