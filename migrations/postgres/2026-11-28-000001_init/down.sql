DROP FUNCTION IF EXISTS audit_events_append_only CASCADE;
DROP TABLE agent_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE halls;
DROP TABLE audit_events;
