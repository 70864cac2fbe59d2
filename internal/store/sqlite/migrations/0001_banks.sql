-- Banks, signals and the change log. Times are Unix microseconds (UTC), the
-- precision PostgreSQL keeps, so both engines round-trip the same values.
--
-- No foreign keys on signals and changes, as in the PostgreSQL schema: they
-- cost a lookup per imported row there, and nothing here is ever deleted
-- (banks are disabled, signals removed by flag). Store.Check verifies every
-- reference.

CREATE TABLE banks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    description   TEXT    NOT NULL DEFAULT '',
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    action        TEXT    NOT NULL,
    pdq_threshold INTEGER NOT NULL CHECK (pdq_threshold BETWEEN 0 AND 256),
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL
) STRICT;

-- key: raw hash bytes (md5, sha1, sha256, pdq) or SHA-256 of the vPDQ text,
-- which is kept in body. See bank.EncodeValue.
CREATE TABLE signals (
    id             INTEGER PRIMARY KEY,
    bank_id        INTEGER NOT NULL, -- banks.id (see the note on foreign keys above)
    type           TEXT    NOT NULL CHECK (type IN ('md5', 'sha1', 'sha256', 'pdq', 'vpdq')),
    key            BLOB    NOT NULL,
    body           TEXT,
    category       TEXT    NOT NULL DEFAULT '',
    source         TEXT    NOT NULL DEFAULT '',
    note           TEXT    NOT NULL DEFAULT '',
    extra          TEXT, -- JSON object of format-specific fields (VICS MediaID, extra CSV columns)
    quality        INTEGER NOT NULL DEFAULT -1,
    added_at       INTEGER NOT NULL,
    added_by       TEXT    NOT NULL,
    removed_at     INTEGER,
    removed_by     TEXT,
    removed_reason TEXT
) STRICT;

-- At most one active signal per bank, type and value; removed ones stay.
CREATE UNIQUE INDEX signals_active ON signals (bank_id, type, key) WHERE removed_at IS NULL;

-- The change log. AUTOINCREMENT: sequence numbers are never reused, even if
-- old entries are one day compacted away. SQLite has one writer at a time,
-- so numbers are assigned in commit order.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    bank_id   INTEGER NOT NULL,
    op        TEXT    NOT NULL,
    signal_id INTEGER, -- signals.id for signal ops
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    detail    TEXT
) STRICT;
