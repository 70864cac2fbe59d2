-- Write-behind staging of a large exchange sync (issue 15; internal/exchange
-- staging.go). While a fetch runs, pages that only add hashes are appended
-- here in the transaction of their checkpoint, then merged into signals,
-- changes and exchange_entries in key order, many pages at a time, so each
-- index leaf is written once per merge instead of once per page. A plain
-- append-only rowid table: nothing is looked up in it but ranges of seq.
-- Rows are the signals as ApplyPage would write them (entry '' when the
-- exchange gave none); a merge deletes the rows it merged.
CREATE TABLE exchange_staging (
    seq         INTEGER PRIMARY KEY,
    exchange_id INTEGER NOT NULL,
    bank_id     INTEGER NOT NULL,
    entry       TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    key         BLOB    NOT NULL,
    body        TEXT,
    category    TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    extra       TEXT,
    quality     INTEGER NOT NULL
) STRICT;

-- How many hashes the exchange has staged and not merged yet (the status
-- shows it: the live index sees them only after their merge).
ALTER TABLE exchanges ADD COLUMN staged INTEGER NOT NULL DEFAULT 0;
