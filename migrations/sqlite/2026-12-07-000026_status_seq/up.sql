-- The register's change counter (issue 26). Triggers move it in the transaction of every change
-- to what the verify routes show of a licence (its row, its log entries, its hall's authority
-- name), whoever writes: so a process that keeps licences' verify rows in memory learns from one
-- small read whether any of them may have changed.
CREATE TABLE register_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO register_changes (id, seq) VALUES (1, 0);
CREATE TRIGGER licences_updated_register_changes AFTER UPDATE ON licences
BEGIN UPDATE register_changes SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER licences_deleted_register_changes AFTER DELETE ON licences
BEGIN UPDATE register_changes SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER tlog_entries_deleted_register_changes AFTER DELETE ON tlog_entries
BEGIN UPDATE register_changes SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER halls_updated_register_changes AFTER UPDATE ON halls
BEGIN UPDATE register_changes SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER halls_deleted_register_changes AFTER DELETE ON halls
BEGIN UPDATE register_changes SET seq = seq + 1 WHERE id = 1; END;
