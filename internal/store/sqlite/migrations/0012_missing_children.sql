-- Missing-child cases (internal/alert, issue 19): the case document (JSON
-- without personal data: clock, alert, messages) and its personal part
-- sealed with the data key (internal/sealed). Times are Unix microseconds
-- (UTC).
CREATE TABLE missing_cases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uid         TEXT    NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    district    TEXT    NOT NULL,
    reported_at INTEGER NOT NULL,
    closed_at   INTEGER,
    doc         TEXT    NOT NULL,
    sealed      BLOB    NOT NULL
) STRICT;

CREATE INDEX missing_cases_open ON missing_cases (id) WHERE closed_at IS NULL;
CREATE INDEX missing_cases_reported ON missing_cases (reported_at);
CREATE INDEX missing_cases_closed ON missing_cases (closed_at);
