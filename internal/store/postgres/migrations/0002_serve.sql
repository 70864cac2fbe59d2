-- What `nigehban serve` keeps: API keys (SHA-256 of the secret only), the
-- hash-chained audit log, bank webhooks and the webhook outbox.

CREATE TABLE api_keys (
    id         bigserial PRIMARY KEY,
    name       text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('submitter', 'curator', 'admin')),
    hash       bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE audit (
    seq    bigint PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    remote text NOT NULL,
    detail text NOT NULL,
    prev   text NOT NULL,
    hash   text NOT NULL
);

-- One row: appends lock it, which orders the chain across replicas.
CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint NOT NULL,
    hash text   NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '');

CREATE TABLE webhooks (
    bank   text PRIMARY KEY,
    url    text NOT NULL,
    secret text NOT NULL
);

CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    bank       text        NOT NULL,
    url        text        NOT NULL,
    secret     text        NOT NULL,
    payload    text        NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL,
    state      text        NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    last_error text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);

CREATE INDEX outbox_due ON outbox (state, next_at);
