-- Lookups by DFS file ID: the reconciliation (fcgi/app/reconcile.go) asks
-- whether file_info or dfs_gc holds a file ID, and its locking re-check
-- must lock only the rows of that ID, not scan and lock the whole table.
-- IF NOT EXISTS (MariaDB) keeps the migration re-runnable.

CREATE INDEX IF NOT EXISTS idx_file_id ON file_info (file_id);

CREATE INDEX IF NOT EXISTS idx_file_id ON dfs_gc (file_id);
