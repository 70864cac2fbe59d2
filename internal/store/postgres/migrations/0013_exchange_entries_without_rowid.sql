-- SQLite's 0013 makes exchange_entries a WITHOUT ROWID table (one B-tree
-- instead of a rowid table and its primary-key index). PostgreSQL has no
-- such choice to make (a heap and its primary-key index either way):
-- nothing to change, the number keeps both engines' versions aligned.
SELECT 1;
