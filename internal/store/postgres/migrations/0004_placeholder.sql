-- Placeholder for version 0004, which another branch defines (the console
-- branch was given 0006). Versions must be contiguous, so this no-op keeps
-- 0006 applicable on this branch alone. DELETE THIS FILE AT MERGE in favour
-- of the real 0004.
SELECT 1;
