-- Rows an import added, so that a cancelled, failed or interrupted import
-- (a crash, kill -9) can be undone: imports commit in small batches to keep
-- the write lock short for arriving messages. Empty unless an import runs
-- or was interrupted; the service undoes what is listed at start.
CREATE TABLE backup_import_journal (
    seq        INTEGER PRIMARY KEY,
    table_name TEXT NOT NULL,
    row_id     INTEGER NOT NULL
);
