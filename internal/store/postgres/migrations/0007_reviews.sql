-- Bank policy, the review queue and flood quarantine (internal/review,
-- issue 13).

-- review_above: hits farther than this PDQ distance go to review even on
-- block/report banks (0: off). negative: the bank's hits suppress the hits
-- of every other bank for the same request.
ALTER TABLE banks ADD COLUMN review_above integer NOT NULL DEFAULT 0;
ALTER TABLE banks ADD COLUMN negative boolean NOT NULL DEFAULT false;

-- One queued hit. uploader is the platform's uploader context sealed with
-- the data key (internal/sealed, associated data bound to ref), uploader_blind
-- the keyed digest of its account id (other hits of the same uploader).
CREATE TABLE review_items (
    id             bigserial PRIMARY KEY,
    ref            text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL,
    bank           text        NOT NULL,
    signal_id      bigint      NOT NULL,
    type           text        NOT NULL,
    value          text        NOT NULL,
    distance       integer     NOT NULL,
    category       text        NOT NULL DEFAULT '',
    reason         text        NOT NULL CHECK (reason IN ('bank', 'distance', 'flood')),
    content_id     text        NOT NULL DEFAULT '',
    submitter      text        NOT NULL,
    signals        text        NOT NULL DEFAULT '[]',
    uploader       text,
    uploader_blind bytea,
    state          text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'escalated', 'confirmed', 'rejected')),
    lease_owner    text        NOT NULL DEFAULT '',
    lease_until    timestamptz,
    decided_by     text        NOT NULL DEFAULT '',
    decided_at     timestamptz,
    comment        text        NOT NULL DEFAULT ''
);

-- Claim-next walks one of these in id order (decided items leave them).
CREATE INDEX review_items_open ON review_items (id) WHERE state = 'open';
CREATE INDEX review_items_escalated ON review_items (id) WHERE state = 'escalated';
CREATE INDEX review_items_lease ON review_items (lease_owner, id) WHERE lease_owner <> '';
CREATE INDEX review_items_uploader ON review_items (uploader_blind, id) WHERE uploader_blind IS NOT NULL;
CREATE INDEX review_items_content ON review_items (content_id, id) WHERE content_id <> '';

-- Who skipped an item: claim-next does not offer it to them again.
CREATE TABLE review_skips (
    item_id  bigint NOT NULL REFERENCES review_items (id) ON DELETE CASCADE,
    reviewer text   NOT NULL,
    PRIMARY KEY (item_id, reviewer)
);

-- Signals paused by the flood rule until a curator lifts the pause.
CREATE TABLE signal_quarantine (
    signal_id  bigint PRIMARY KEY,
    bank       text        NOT NULL,
    since      timestamptz NOT NULL,
    recent     bigint      NOT NULL,
    baseline   bigint      NOT NULL,
    lifted_at  timestamptz,
    lifted_by  text        NOT NULL DEFAULT ''
);

-- Per-user console preferences (preview: blur or clear; '' = the
-- organisation's default).
CREATE TABLE user_prefs (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    preview text NOT NULL DEFAULT '' CHECK (preview IN ('', 'blur', 'clear'))
);

CREATE INDEX match_hits_signal ON match_hits (signal_id, at);
