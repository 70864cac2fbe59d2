-- Webhook rules may fire only for some categories or signal types: JSON
-- arrays of strings, '[]' meaning all.

ALTER TABLE webhooks ADD COLUMN categories text NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN types text NOT NULL DEFAULT '[]';
