-- Exclusions: values a bank refuses (same shape as the SQLite schema).
-- Removing a signal excludes its type and value, so a list that still holds
-- it does not bring it back on the next import (it is reported as
-- excluded); a curator lifts an exclusion to allow the value again.

CREATE TABLE exclusions (
    bank_id    bigint      NOT NULL, -- banks.id (no foreign key, as for signals)
    type       text        NOT NULL CHECK (type IN ('md5', 'sha1', 'sha256', 'pdq', 'vpdq')),
    key        bytea       NOT NULL,
    body       text,
    reason     text        NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL,
    PRIMARY KEY (bank_id, type, key)
);
