-- Victim self-submissions (internal/protect, the public /protect page). A
-- case holds no personal data: no name, no address, no IP; the PIN only as
-- its argon2id hash. Its hashes live in the victim-submitted bank; the links
-- below say which signals a withdrawal removes. Times are Unix microseconds.

CREATE TABLE protect_cases (
    number       TEXT    PRIMARY KEY,
    pin_hash     TEXT    NOT NULL,
    age          TEXT    NOT NULL DEFAULT '',
    category     TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    withdrawn_at INTEGER,
    failed_pins  INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
) STRICT;

CREATE TABLE protect_case_signals (
    number    TEXT    NOT NULL REFERENCES protect_cases (number) ON DELETE CASCADE,
    signal_id INTEGER NOT NULL,
    PRIMARY KEY (number, signal_id)
) STRICT;

CREATE INDEX protect_case_signals_signal ON protect_case_signals (signal_id);
