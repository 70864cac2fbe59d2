-- exchange_entries as a WITHOUT ROWID table (issue 15): its rows are
-- looked up only by their primary key, so the rowid table and the separate
-- primary-key index it had were two B-trees written for every hash an
-- exchange brings; clustered on the key they are one. An initial NCMEC sync
-- writes one row per hash (10 million for the issue's benchmark).
CREATE TABLE exchange_entries_clustered (
    exchange_id INTEGER NOT NULL,
    entry       TEXT NOT NULL,
    type        TEXT NOT NULL,
    key         BLOB NOT NULL,
    body        TEXT,
    PRIMARY KEY (exchange_id, entry, type, key)
) STRICT, WITHOUT ROWID;
INSERT INTO exchange_entries_clustered (exchange_id, entry, type, key, body)
    SELECT exchange_id, entry, type, key, body FROM exchange_entries;
DROP TABLE exchange_entries;
ALTER TABLE exchange_entries_clustered RENAME TO exchange_entries;
