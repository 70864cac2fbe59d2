-- Case registry and statistics (internal/registry, issue 18). Coded fields
-- are vocabulary codes (0: unknown); days are days since 1970-01-01 (0:
-- unknown); personal fields (child's details, FIR number, note bodies) are
-- sealed by internal/sealed and stored only in that form. Times are Unix
-- microseconds (UTC).

CREATE TABLE reg_access (
    principal  TEXT    PRIMARY KEY,
    scope      TEXT    NOT NULL CHECK (scope IN ('own', 'team', 'org', 'all')),
    org        TEXT    NOT NULL,
    team       TEXT    NOT NULL DEFAULT '',
    level      TEXT    NOT NULL CHECK (level IN ('district', 'province', 'national')),
    district   INTEGER NOT NULL DEFAULT 0,
    province   INTEGER NOT NULL DEFAULT 0,
    can_write  INTEGER NOT NULL DEFAULT 0,
    granted_by TEXT    NOT NULL,
    granted_at INTEGER NOT NULL
) STRICT;

CREATE TABLE reg_cases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org        TEXT    NOT NULL,
    team       TEXT    NOT NULL DEFAULT '',
    owner      TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('open', 'closure_requested', 'closed')),
    sex        INTEGER NOT NULL DEFAULT 0,
    age_band   INTEGER NOT NULL DEFAULT 0,
    district   INTEGER NOT NULL DEFAULT 0,
    province   INTEGER NOT NULL DEFAULT 0,
    personal   TEXT    NOT NULL DEFAULT '',
    extra      TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX reg_cases_org ON reg_cases (org, district);

CREATE TABLE reg_incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uid              TEXT    NOT NULL UNIQUE,
    case_id          INTEGER REFERENCES reg_cases (id),
    org              TEXT    NOT NULL,
    team             TEXT    NOT NULL DEFAULT '',
    owner            TEXT    NOT NULL,
    reported_day     INTEGER NOT NULL DEFAULT 0,
    year             INTEGER NOT NULL DEFAULT 0,
    month            INTEGER NOT NULL DEFAULT 0,
    category         INTEGER NOT NULL DEFAULT 0,
    sex              INTEGER NOT NULL DEFAULT 0,
    age_band         INTEGER NOT NULL DEFAULT 0,
    relationship     INTEGER NOT NULL DEFAULT 0,
    place            INTEGER NOT NULL DEFAULT 0,
    district         INTEGER NOT NULL DEFAULT 0,
    province         INTEGER NOT NULL DEFAULT 0,
    area             INTEGER NOT NULL DEFAULT 0,
    police_status    INTEGER NOT NULL DEFAULT 0,
    stage            INTEGER NOT NULL DEFAULT 0,
    outcome          INTEGER NOT NULL DEFAULT 0,
    fir              TEXT    NOT NULL DEFAULT '',
    fir_day          INTEGER NOT NULL DEFAULT 0,
    charge_sheet_day INTEGER NOT NULL DEFAULT 0,
    trial_day        INTEGER NOT NULL DEFAULT 0,
    verdict_day      INTEGER NOT NULL DEFAULT 0,
    sections         TEXT    NOT NULL DEFAULT '',
    acquittal_reason TEXT    NOT NULL DEFAULT '',
    source           TEXT    NOT NULL DEFAULT '',
    extra            TEXT    NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX reg_incidents_case ON reg_incidents (case_id);
-- Tables within one province or district read this index only (every
-- coded column and the visibility columns): a range of narrow entries,
-- never the wide rows.
CREATE INDEX reg_incidents_stats ON reg_incidents (province, district, org, year, month, category, sex, age_band,
    relationship, place, area, police_status, stage, outcome, team, owner);

-- Two-way counts kept as incidents are added, for every pair of coded
-- columns (pair = 16 × position of a + position of b in sqlcore's
-- regPairCols), by visibility and year: a table without a geographic
-- filter sums at most |a| × |b| rows per year and owner.
CREATE TABLE reg_counts (
    org   TEXT    NOT NULL,
    team  TEXT    NOT NULL,
    owner TEXT    NOT NULL,
    year  INTEGER NOT NULL,
    province INTEGER NOT NULL,
    pair  INTEGER NOT NULL,
    a     INTEGER NOT NULL,
    b     INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (org, pair, year, province, team, owner, a, b)
) STRICT;

CREATE TABLE reg_referrals (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id    INTEGER NOT NULL REFERENCES reg_cases (id),
    from_org   TEXT    NOT NULL,
    to_org     TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('requested', 'accepted', 'rejected', 'done', 'revoked')),
    reason     TEXT    NOT NULL DEFAULT '',
    by_who     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX reg_referrals_case ON reg_referrals (case_id);

CREATE TABLE reg_notes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES reg_cases (id),
    author  TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    ref     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX reg_notes_case ON reg_notes (case_id);

CREATE TABLE reg_approvals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES reg_cases (id),
    requested_by TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by   TEXT    NOT NULL DEFAULT '',
    decided_at   INTEGER
) STRICT;
