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

-- Match history (internal/history): every hit of POST /v1/match, with the
-- caller's own content id, kept for the configured retention.
CREATE TABLE match_hits (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    submitter  text        NOT NULL,
    content_id text        NOT NULL DEFAULT '',
    bank       text        NOT NULL,
    signal_id  bigint      NOT NULL,
    type       text        NOT NULL,
    value      text        NOT NULL,
    distance   integer     NOT NULL
);

CREATE INDEX match_hits_content ON match_hits (content_id, id) WHERE content_id <> '';
CREATE INDEX match_hits_bank ON match_hits (bank, id);
CREATE INDEX match_hits_at ON match_hits (at);
