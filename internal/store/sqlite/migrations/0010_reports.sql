-- Reports to law enforcement (internal/report) and the evidence vault
-- (internal/vault). A case's personal data is in doc, sealed with the data
-- key (internal/sealed); subject_blind is the keyed digest of the reported
-- account, to gather its hits into one case. submission is the CyberTipline
-- outbox state (NCMEC ids and progress, no personal data). Times are Unix
-- microseconds (UTC).

CREATE TABLE report_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    opened_at     INTEGER NOT NULL,
    opened_by     TEXT    NOT NULL,
    updated_by    TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('open', 'approved', 'submitting', 'submitted', 'failed', 'retracted')),
    version       INTEGER NOT NULL DEFAULT 1,
    subject_blind BLOB,
    approved_by   TEXT    NOT NULL DEFAULT '',
    approved_at   INTEGER,
    submission    TEXT    NOT NULL DEFAULT '{}',
    next_at       INTEGER,
    doc           TEXT    NOT NULL
) STRICT;

CREATE INDEX report_cases_subject ON report_cases (subject_blind) WHERE state = 'open';
CREATE INDEX report_cases_due ON report_cases (next_at) WHERE state IN ('approved', 'submitting');

-- Credentials of report destinations (CyberTipline), sealed.
CREATE TABLE report_secrets (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Preserved evidence: bytes encrypted to named recipients (age), kept in
-- files outside the database until expires_at.
CREATE TABLE vault_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    recipients   TEXT    NOT NULL,
    file         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    destroyed_at INTEGER
) STRICT;

CREATE INDEX vault_items_case ON vault_items (case_id);
CREATE INDEX vault_items_expiry ON vault_items (expires_at) WHERE destroyed_at IS NULL;

-- A case's custody entries are read by target.
CREATE INDEX audit_target ON audit (target);
