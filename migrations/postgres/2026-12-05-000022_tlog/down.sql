DROP TABLE tlog_checkpoints;
DROP TABLE tlog_state;
DROP TABLE tlog_nodes;
DROP TABLE tlog_entries;
