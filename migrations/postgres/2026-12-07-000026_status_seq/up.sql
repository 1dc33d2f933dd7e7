-- The register's change counter (issue 26). Triggers move it in the transaction of every change
-- to what the verify routes show of a licence (its row, its log entries, its hall's authority
-- name), whoever writes: so a process that keeps licences' verify rows in memory learns from one
-- small read whether any of them may have changed.
CREATE TABLE register_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO register_changes (id, seq) VALUES (1, 0);
CREATE FUNCTION bump_register_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE register_changes SET seq = seq + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER licences_register_changes AFTER UPDATE OR DELETE ON licences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_register_changes();
CREATE TRIGGER tlog_entries_register_changes AFTER DELETE ON tlog_entries
    FOR EACH STATEMENT EXECUTE FUNCTION bump_register_changes();
CREATE TRIGGER halls_register_changes AFTER UPDATE OR DELETE ON halls
    FOR EACH STATEMENT EXECUTE FUNCTION bump_register_changes();
