-- Banks, signals and the change log (same shape as the SQLite schema).
--
-- No foreign keys on signals and changes: PostgreSQL checks them with a
-- trigger per row, which made bulk imports 2-3x slower, and nothing here is
-- ever deleted (banks are disabled, signals removed by flag), so a dangling
-- reference can only come from a bug. Store.Check verifies every reference.

CREATE TABLE banks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    description   text        NOT NULL DEFAULT '',
    enabled       boolean     NOT NULL DEFAULT true,
    action        text        NOT NULL,
    pdq_threshold integer     NOT NULL CHECK (pdq_threshold BETWEEN 0 AND 256),
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL
);

-- key: raw hash bytes (md5, sha1, sha256, pdq) or SHA-256 of the vPDQ text,
-- which is kept in body. See bank.EncodeValue.
CREATE TABLE signals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bank_id        bigint      NOT NULL, -- banks.id (see the note on foreign keys above)
    type           text        NOT NULL CHECK (type IN ('md5', 'sha1', 'sha256', 'pdq', 'vpdq')),
    key            bytea       NOT NULL,
    body           text,
    category       text        NOT NULL DEFAULT '',
    source         text        NOT NULL DEFAULT '',
    note           text        NOT NULL DEFAULT '',
    extra          text, -- JSON object of format-specific fields (VICS MediaID, extra CSV columns)
    quality        smallint    NOT NULL DEFAULT -1,
    added_at       timestamptz NOT NULL,
    added_by       text        NOT NULL,
    removed_at     timestamptz,
    removed_by     text,
    removed_reason text
);

-- At most one active signal per bank, type and value; removed ones stay.
CREATE UNIQUE INDEX signals_active ON signals (bank_id, type, key) WHERE removed_at IS NULL;

-- The change log. Concurrent transactions can commit in a different order
-- than a sequence hands out numbers, so seq does not come from a sequence:
-- each transaction takes its numbers from this single row as its last
-- statement before COMMIT. The row lock serialises that step, so numbers
-- are assigned in commit order and a reader asking "since N" never misses a
-- change that commits later with a smaller number. A rolled-back
-- transaction rolls its increment back too.
CREATE TABLE change_seq (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    last bigint  NOT NULL
);
INSERT INTO change_seq (one, last) VALUES (true, 0);

CREATE TABLE changes (
    seq       bigint PRIMARY KEY,
    bank_id   bigint      NOT NULL,
    op        text        NOT NULL,
    signal_id bigint, -- signals.id for signal ops
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    detail    jsonb
);
