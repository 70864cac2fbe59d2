-- Victim self-submissions (internal/protect, the public /protect page). A
-- case holds no personal data: no name, no address, no IP; the PIN only as
-- its argon2id hash. Its hashes live in the victim-submitted bank; the links
-- below say which signals a withdrawal removes.

CREATE TABLE protect_cases (
    number       text        PRIMARY KEY,
    pin_hash     text        NOT NULL,
    age          text        NOT NULL DEFAULT '',
    category     text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    withdrawn_at timestamptz,
    failed_pins  integer     NOT NULL DEFAULT 0,
    locked_until timestamptz
);

CREATE TABLE protect_case_signals (
    number    text   NOT NULL REFERENCES protect_cases (number) ON DELETE CASCADE,
    signal_id bigint NOT NULL,
    PRIMARY KEY (number, signal_id)
);

CREATE INDEX protect_case_signals_signal ON protect_case_signals (signal_id);
