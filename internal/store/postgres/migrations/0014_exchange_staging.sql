-- Write-behind staging of a large exchange sync (issue 15; see SQLite's
-- 0014). The PostgreSQL engine does not stage yet (it has no
-- sqlcore.Stager): the table and the column keep both schemas alike, so
-- the shared SQL (the staged count of an exchange) runs on both.
CREATE TABLE exchange_staging (
    seq         bigserial PRIMARY KEY,
    exchange_id bigint NOT NULL,
    bank_id     bigint NOT NULL,
    entry       text   NOT NULL,
    type        text   NOT NULL,
    key         bytea  NOT NULL,
    body        text,
    category    text   NOT NULL,
    source      text   NOT NULL,
    note        text   NOT NULL,
    extra       text,
    quality     integer NOT NULL
);

ALTER TABLE exchanges ADD COLUMN staged bigint NOT NULL DEFAULT 0;
