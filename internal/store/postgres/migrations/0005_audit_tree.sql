-- The audit log as a transparency log (RFC 6962 Merkle tree over the
-- entries' canonical leaves, see internal/audit): every stored hash of the
-- tree at its golang.org/x/mod/sumdb/tlog stored-hash index, written in the
-- same transaction as the entry; and the signed checkpoints (C2SP signed
-- notes, with witness cosignatures) the log has published.
CREATE TABLE audit_tree (
    idx  bigint PRIMARY KEY,
    hash bytea  NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_checkpoints (
    size bigint      PRIMARY KEY,
    note text        NOT NULL,
    at   timestamptz NOT NULL
);
