-- The audit log as a transparency log (RFC 6962 Merkle tree over the
-- entries' canonical leaves, see internal/audit): every stored hash of the
-- tree at its golang.org/x/mod/sumdb/tlog stored-hash index, written in the
-- same transaction as the entry; and the signed checkpoints (C2SP signed
-- notes, with witness cosignatures) the log has published.
CREATE TABLE audit_tree (
    idx  INTEGER PRIMARY KEY,
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TABLE audit_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT    NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
