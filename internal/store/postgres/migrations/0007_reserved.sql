-- Reserved for a migration of a parallel branch (dropped at merge).
SELECT 1;
