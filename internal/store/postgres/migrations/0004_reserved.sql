-- Placeholder for version 4, which another branch adds: delete this file when
-- merging with it (versions must be contiguous; the transparency log is 0005).
SELECT 1;
