DROP TRIGGER halls_register_changes ON halls;
DROP TRIGGER tlog_entries_register_changes ON tlog_entries;
DROP TRIGGER licences_register_changes ON licences;
DROP FUNCTION bump_register_changes();
DROP TABLE register_changes;
