-- Missing-child cases (internal/alert, issue 19): the case document (JSON
-- without personal data: clock, alert, messages) and its personal part
-- sealed with the data key (internal/sealed).
CREATE TABLE missing_cases (
    id          bigserial   PRIMARY KEY,
    uid         text        NOT NULL UNIQUE,
    version     bigint      NOT NULL,
    district    text        NOT NULL,
    reported_at timestamptz NOT NULL,
    closed_at   timestamptz,
    doc         text        NOT NULL,
    sealed      bytea       NOT NULL
);

CREATE INDEX missing_cases_open ON missing_cases (id) WHERE closed_at IS NULL;
CREATE INDEX missing_cases_reported ON missing_cases (reported_at);
CREATE INDEX missing_cases_closed ON missing_cases (closed_at);
