-- What `nigehban serve` keeps: API keys (SHA-256 of the secret only), the
-- hash-chained audit log, bank webhooks and the webhook outbox. Times are
-- Unix microseconds (UTC).

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('submitter', 'curator', 'admin')),
    hash       BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE audit (
    seq    INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    remote TEXT    NOT NULL,
    detail TEXT    NOT NULL,
    prev   TEXT    NOT NULL,
    hash   TEXT    NOT NULL
) STRICT;

CREATE TABLE webhooks (
    bank   TEXT PRIMARY KEY,
    url    TEXT NOT NULL,
    secret TEXT NOT NULL
) STRICT;

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    bank       TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX outbox_due ON outbox (state, next_at);
