DROP TABLE agent_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE halls;
DROP TABLE audit_events;
