-- Reserved for a migration developed on another branch (placeholder, dropped at merge).
SELECT 1;
