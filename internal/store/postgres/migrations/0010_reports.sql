-- Reports to law enforcement (internal/report) and the evidence vault
-- (internal/vault). A case's personal data is in doc, sealed with the data
-- key (internal/sealed); subject_blind is the keyed digest of the reported
-- account, to gather its hits into one case. submission is the CyberTipline
-- outbox state (NCMEC ids and progress, no personal data).

CREATE TABLE report_cases (
    id            bigserial PRIMARY KEY,
    opened_at     timestamptz NOT NULL,
    opened_by     text    NOT NULL,
    updated_by    text    NOT NULL,
    state         text    NOT NULL CHECK (state IN ('open', 'approved', 'submitting', 'submitted', 'failed', 'retracted')),
    version       bigint  NOT NULL DEFAULT 1,
    subject_blind bytea,
    approved_by   text    NOT NULL DEFAULT '',
    approved_at   timestamptz,
    submission    text    NOT NULL DEFAULT '{}',
    next_at       timestamptz,
    doc           text    NOT NULL
);

CREATE INDEX report_cases_subject ON report_cases (subject_blind) WHERE state = 'open';
CREATE INDEX report_cases_due ON report_cases (next_at) WHERE state IN ('approved', 'submitting');

-- Credentials of report destinations (CyberTipline), sealed.
CREATE TABLE report_secrets (
    name       text    PRIMARY KEY,
    value      text    NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Preserved evidence: bytes encrypted to named recipients (age), kept in
-- files outside the database until expires_at.
CREATE TABLE vault_items (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL,
    sha256       text    NOT NULL,
    size         bigint NOT NULL,
    recipients   text    NOT NULL,
    file         text    NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text    NOT NULL,
    expires_at   timestamptz NOT NULL,
    destroyed_at timestamptz
);

CREATE INDEX vault_items_case ON vault_items (case_id);
CREATE INDEX vault_items_expiry ON vault_items (expires_at) WHERE destroyed_at IS NULL;

-- A case's custody entries are read by target.
CREATE INDEX audit_target ON audit (target);
