-- Exchanges (internal/exchange): hash-sharing programmes and partner
-- instances a bank is kept in sync with. The checkpoint is written in the
-- same transaction as the signals it covers; checkpoint_pos never decreases.
-- Credentials are sealed (internal/sealed) with a key kept outside the
-- database. Times are Unix microseconds (UTC).

CREATE TABLE exchanges (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL,
    bank           TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    settings       TEXT    NOT NULL DEFAULT '{}',
    credentials    TEXT    NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1,
    stale_after    INTEGER NOT NULL DEFAULT 0, -- microseconds; 0: never stale
    checkpoint_pos INTEGER NOT NULL DEFAULT 0,
    checkpoint     TEXT    NOT NULL DEFAULT '',
    sync_start     INTEGER, -- when the fetch in progress began (NULL: none)
    fetched_total  INTEGER NOT NULL DEFAULT 0,
    last_fetch_at  INTEGER,
    last_ok_at     INTEGER,
    last_error     TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL
) STRICT;

-- The opinion outbox: review decisions to send to the exchange a signal
-- came from, once each (dedup on exchange, entry and decision key).
CREATE TABLE exchange_opinions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    exchange_id INTEGER NOT NULL REFERENCES exchanges (id) ON DELETE CASCADE,
    signal_id   INTEGER NOT NULL,
    entry_id    TEXT    NOT NULL,
    member      TEXT    NOT NULL DEFAULT '',
    type        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    verdict     TEXT    NOT NULL CHECK (verdict IN ('true_positive', 'false_positive', 'pending_review')),
    decision    TEXT    NOT NULL, -- the caller's id of the decision (dedup)
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    sent_at     INTEGER,
    last_error  TEXT    NOT NULL DEFAULT '',
    UNIQUE (exchange_id, decision)
) STRICT;
CREATE INDEX exchange_opinions_due ON exchange_opinions (next_at) WHERE sent_at IS NULL;

-- Signals whose source exchange says the opposite of our own decision.
CREATE TABLE disputed_signals (
    signal_id   INTEGER PRIMARY KEY,
    exchange_id INTEGER NOT NULL,
    ours        TEXT    NOT NULL,
    theirs      TEXT    NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

-- Retained upload hashes for retroactive matching: no content, the
-- caller's content id, kept for a configured period.
CREATE TABLE retained_uploads (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    submitter  TEXT    NOT NULL,
    content_id TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    key        BLOB    NOT NULL
) STRICT;
CREATE INDEX retained_uploads_at ON retained_uploads (at);

-- Which hashes an exchange entry brought (an exchange's deletion may name
-- only its entry, as NCMEC's deleted entries do).
CREATE TABLE exchange_entries (
    exchange_id INTEGER NOT NULL,
    entry       TEXT NOT NULL,
    type        TEXT NOT NULL,
    key         BLOB NOT NULL,
    body        TEXT,
    PRIMARY KEY (exchange_id, entry, type, key)
) STRICT;

-- Partners that may read published banks' change logs (a bearer token,
-- stored as its SHA-256 only; banks is a JSON array of bank names).
CREATE TABLE partner_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    hash       BLOB NOT NULL UNIQUE,
    banks      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
) STRICT;
