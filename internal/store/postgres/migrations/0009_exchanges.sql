-- Exchanges (internal/exchange): hash-sharing programmes and partner
-- instances a bank is kept in sync with. The checkpoint is written in the
-- same transaction as the signals it covers; checkpoint_pos never decreases.
-- Credentials are sealed (internal/sealed) with a key kept outside the
-- database. Times are timestamptz.

CREATE TABLE exchanges (
    id             bigserial PRIMARY KEY,
    name           text    NOT NULL UNIQUE,
    kind           text    NOT NULL,
    bank           text    NOT NULL,
    url            text    NOT NULL,
    settings       text    NOT NULL DEFAULT '{}',
    credentials    text    NOT NULL DEFAULT '',
    enabled        boolean NOT NULL DEFAULT true,
    stale_after    bigint NOT NULL DEFAULT 0, -- microseconds; 0: never stale
    checkpoint_pos bigint NOT NULL DEFAULT 0,
    checkpoint     text    NOT NULL DEFAULT '',
    sync_start     timestamptz, -- when the fetch in progress began (NULL: none)
    fetched_total  bigint NOT NULL DEFAULT 0,
    last_fetch_at  timestamptz,
    last_ok_at     timestamptz,
    last_error     text    NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    created_by     text    NOT NULL
);

-- The opinion outbox: review decisions to send to the exchange a signal
-- came from, once each (dedup on exchange, entry and decision key).
CREATE TABLE exchange_opinions (
    id          bigserial PRIMARY KEY,
    exchange_id bigint NOT NULL REFERENCES exchanges (id) ON DELETE CASCADE,
    signal_id   bigint NOT NULL,
    entry_id    text    NOT NULL,
    member      text    NOT NULL DEFAULT '',
    type        text    NOT NULL,
    value       text    NOT NULL,
    verdict     text    NOT NULL CHECK (verdict IN ('true_positive', 'false_positive', 'pending_review')),
    decision    text    NOT NULL, -- the caller's id of the decision (dedup)
    created_at  timestamptz NOT NULL,
    created_by  text    NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL,
    sent_at     timestamptz,
    last_error  text    NOT NULL DEFAULT '',
    UNIQUE (exchange_id, decision)
);
CREATE INDEX exchange_opinions_due ON exchange_opinions (next_at) WHERE sent_at IS NULL;

-- Signals whose source exchange says the opposite of our own decision.
CREATE TABLE disputed_signals (
    signal_id   bigint PRIMARY KEY,
    exchange_id bigint NOT NULL,
    ours        text    NOT NULL,
    theirs      text    NOT NULL,
    at          timestamptz NOT NULL
);

-- Retained upload hashes for retroactive matching: no content, the
-- caller's content id, kept for a configured period.
CREATE TABLE retained_uploads (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    submitter  text    NOT NULL,
    content_id text    NOT NULL,
    type       text    NOT NULL,
    key        bytea    NOT NULL
);
CREATE INDEX retained_uploads_at ON retained_uploads (at);

-- Which hashes an exchange entry brought (an exchange's deletion may name
-- only its entry, as NCMEC's deleted entries do).
CREATE TABLE exchange_entries (
    exchange_id bigint NOT NULL,
    entry       text NOT NULL,
    type        text NOT NULL,
    key         bytea NOT NULL,
    body        text,
    PRIMARY KEY (exchange_id, entry, type, key)
);

-- Partners that may read published banks' change logs (a bearer token,
-- stored as its SHA-256 only; banks is a JSON array of bank names).
CREATE TABLE partner_tokens (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    hash       bytea NOT NULL UNIQUE,
    banks      text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    revoked_at timestamptz
);
