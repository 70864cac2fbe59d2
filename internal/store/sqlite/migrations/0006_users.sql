-- Console accounts and browser sessions (internal/account). Secrets are
-- stored as hashes only: passwords argon2id (PHC string), setup and session
-- tokens SHA-256. Times are Unix microseconds (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'moderator', 'child-safety', 'curator', 'admin')),
    password_hash TEXT    NOT NULL DEFAULT '',
    setup_hash    BLOB    UNIQUE,
    setup_expires INTEGER,
    totp_secret   BLOB,
    totp_step     INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    disabled_at   INTEGER,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    last_login_at INTEGER
) STRICT;

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash       BLOB    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage      TEXT    NOT NULL CHECK (stage IN ('full', 'totp', 'enrol')),
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    remote     TEXT    NOT NULL
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Match history (internal/history): every hit of POST /v1/match, with the
-- caller's own content id, kept for the configured retention.
CREATE TABLE match_hits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    submitter  TEXT    NOT NULL,
    content_id TEXT    NOT NULL DEFAULT '',
    bank       TEXT    NOT NULL,
    signal_id  INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    distance   INTEGER NOT NULL
) STRICT;

CREATE INDEX match_hits_content ON match_hits (content_id, id) WHERE content_id <> '';
CREATE INDEX match_hits_bank ON match_hits (bank, id);
CREATE INDEX match_hits_at ON match_hits (at);
