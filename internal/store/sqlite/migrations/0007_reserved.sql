-- Reserved for a migration being written in parallel (dropped at merge).
SELECT 1;
