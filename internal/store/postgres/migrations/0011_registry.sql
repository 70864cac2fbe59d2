-- Case registry and statistics (internal/registry, issue 18). Coded fields
-- are vocabulary codes (0: unknown); days are days since 1970-01-01 (0:
-- unknown); personal fields (child's details, FIR number, note bodies) are
-- sealed by internal/sealed and stored only in that form.

CREATE TABLE reg_access (
    principal  text    PRIMARY KEY,
    scope      text    NOT NULL CHECK (scope IN ('own', 'team', 'org', 'all')),
    org        text    NOT NULL,
    team       text    NOT NULL DEFAULT '',
    level      text    NOT NULL CHECK (level IN ('district', 'province', 'national')),
    district   integer NOT NULL DEFAULT 0,
    province   integer NOT NULL DEFAULT 0,
    can_write  boolean NOT NULL DEFAULT false,
    granted_by text    NOT NULL,
    granted_at timestamptz NOT NULL
);

CREATE TABLE reg_cases (
    id         bigserial PRIMARY KEY,
    org        text    NOT NULL,
    team       text    NOT NULL DEFAULT '',
    owner      text    NOT NULL,
    status     text    NOT NULL CHECK (status IN ('open', 'closure_requested', 'closed')),
    sex        integer NOT NULL DEFAULT 0,
    age_band   integer NOT NULL DEFAULT 0,
    district   integer NOT NULL DEFAULT 0,
    province   integer NOT NULL DEFAULT 0,
    personal   text    NOT NULL DEFAULT '',
    extra      text    NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX reg_cases_org ON reg_cases (org, district);

CREATE TABLE reg_incidents (
    id               bigserial PRIMARY KEY,
    uid              text    NOT NULL UNIQUE,
    case_id          bigint REFERENCES reg_cases (id),
    org              text    NOT NULL,
    team             text    NOT NULL DEFAULT '',
    owner            text    NOT NULL,
    reported_day     integer NOT NULL DEFAULT 0,
    year             integer NOT NULL DEFAULT 0,
    month            integer NOT NULL DEFAULT 0,
    category         integer NOT NULL DEFAULT 0,
    sex              integer NOT NULL DEFAULT 0,
    age_band         integer NOT NULL DEFAULT 0,
    relationship     integer NOT NULL DEFAULT 0,
    place            integer NOT NULL DEFAULT 0,
    district         integer NOT NULL DEFAULT 0,
    province         integer NOT NULL DEFAULT 0,
    area             integer NOT NULL DEFAULT 0,
    police_status    integer NOT NULL DEFAULT 0,
    stage            integer NOT NULL DEFAULT 0,
    outcome          integer NOT NULL DEFAULT 0,
    fir              text    NOT NULL DEFAULT '',
    fir_day          integer NOT NULL DEFAULT 0,
    charge_sheet_day integer NOT NULL DEFAULT 0,
    trial_day        integer NOT NULL DEFAULT 0,
    verdict_day      integer NOT NULL DEFAULT 0,
    sections         text    NOT NULL DEFAULT '',
    acquittal_reason text    NOT NULL DEFAULT '',
    source           text    NOT NULL DEFAULT '',
    extra            text    NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL
);
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
    org   text    NOT NULL,
    team  text    NOT NULL,
    owner text    NOT NULL,
    year  integer NOT NULL,
    province integer NOT NULL,
    pair  integer NOT NULL,
    a     integer NOT NULL,
    b     integer NOT NULL,
    n     bigint  NOT NULL,
    PRIMARY KEY (org, pair, year, province, team, owner, a, b)
);

CREATE TABLE reg_referrals (
    id         bigserial PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES reg_cases (id),
    from_org   text    NOT NULL,
    to_org     text    NOT NULL,
    state      text    NOT NULL CHECK (state IN ('requested', 'accepted', 'rejected', 'done', 'revoked')),
    reason     text    NOT NULL DEFAULT '',
    by_who     text    NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX reg_referrals_case ON reg_referrals (case_id);

CREATE TABLE reg_notes (
    id      bigserial PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES reg_cases (id),
    author  text    NOT NULL,
    at      timestamptz NOT NULL,
    body    text    NOT NULL,
    ref     text    NOT NULL DEFAULT ''
);
CREATE INDEX reg_notes_case ON reg_notes (case_id);

CREATE TABLE reg_approvals (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES reg_cases (id),
    requested_by text    NOT NULL,
    requested_at timestamptz NOT NULL,
    reason       text    NOT NULL DEFAULT '',
    state        text    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by   text    NOT NULL DEFAULT '',
    decided_at   timestamptz
);
