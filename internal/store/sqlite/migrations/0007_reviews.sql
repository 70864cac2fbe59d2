-- Bank policy, the review queue and flood quarantine (internal/review,
-- issue 13). Times are Unix microseconds (UTC).

-- review_above: hits farther than this PDQ distance go to review even on
-- block/report banks (0: off). negative: the bank's hits suppress the hits
-- of every other bank for the same request.
ALTER TABLE banks ADD COLUMN review_above INTEGER NOT NULL DEFAULT 0;
ALTER TABLE banks ADD COLUMN negative INTEGER NOT NULL DEFAULT 0;

-- One queued hit. uploader is the platform's uploader context sealed with
-- the data key (internal/sealed, associated data bound to ref), uploader_blind
-- the keyed digest of its account id (other hits of the same uploader).
CREATE TABLE review_items (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    ref            TEXT    NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    bank           TEXT    NOT NULL,
    signal_id      INTEGER NOT NULL,
    type           TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    distance       INTEGER NOT NULL,
    category       TEXT    NOT NULL DEFAULT '',
    reason         TEXT    NOT NULL CHECK (reason IN ('bank', 'distance', 'flood')),
    content_id     TEXT    NOT NULL DEFAULT '',
    submitter      TEXT    NOT NULL,
    signals        TEXT    NOT NULL DEFAULT '[]',
    uploader       TEXT,
    uploader_blind BLOB,
    state          TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'escalated', 'confirmed', 'rejected')),
    lease_owner    TEXT    NOT NULL DEFAULT '',
    lease_until    INTEGER,
    decided_by     TEXT    NOT NULL DEFAULT '',
    decided_at     INTEGER,
    comment        TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Claim-next walks one of these in id order (decided items leave them).
CREATE INDEX review_items_open ON review_items (id) WHERE state = 'open';
CREATE INDEX review_items_escalated ON review_items (id) WHERE state = 'escalated';
CREATE INDEX review_items_lease ON review_items (lease_owner, id) WHERE lease_owner <> '';
CREATE INDEX review_items_uploader ON review_items (uploader_blind, id) WHERE uploader_blind IS NOT NULL;
CREATE INDEX review_items_content ON review_items (content_id, id) WHERE content_id <> '';

-- Who skipped an item: claim-next does not offer it to them again.
CREATE TABLE review_skips (
    item_id  INTEGER NOT NULL REFERENCES review_items (id) ON DELETE CASCADE,
    reviewer TEXT    NOT NULL,
    PRIMARY KEY (item_id, reviewer)
) STRICT;

-- Signals paused by the flood rule until a curator lifts the pause.
CREATE TABLE signal_quarantine (
    signal_id  INTEGER PRIMARY KEY,
    bank       TEXT    NOT NULL,
    since      INTEGER NOT NULL,
    recent     INTEGER NOT NULL,
    baseline   INTEGER NOT NULL,
    lifted_at  INTEGER,
    lifted_by  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Per-user console preferences (preview: blur or clear; '' = the
-- organisation's default).
CREATE TABLE user_prefs (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    preview TEXT    NOT NULL DEFAULT '' CHECK (preview IN ('', 'blur', 'clear'))
) STRICT;

CREATE INDEX match_hits_signal ON match_hits (signal_id, at);
