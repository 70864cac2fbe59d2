-- Placeholder so versions stay contiguous on the protect branch until main's
-- 0007 lands; dropped at merge.
SELECT 1;
