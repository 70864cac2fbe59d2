-- Exclusions: values a bank refuses. Removing a signal excludes its type and
-- value, so a list that still holds it does not bring it back on the next
-- import (it is reported as excluded); a curator lifts an exclusion to allow
-- the value again. key and body as in signals (see bank.EncodeValue).

CREATE TABLE exclusions (
    bank_id    INTEGER NOT NULL, -- banks.id (no foreign key, as for signals)
    type       TEXT    NOT NULL CHECK (type IN ('md5', 'sha1', 'sha256', 'pdq', 'vpdq')),
    key        BLOB    NOT NULL,
    body       TEXT,
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (bank_id, type, key)
) STRICT;
