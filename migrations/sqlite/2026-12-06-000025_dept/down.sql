DROP INDEX licences_holder_code;
DROP TABLE share_lookups;
DROP TABLE shares;
DROP TABLE dept_access_log;
DROP TABLE dept_clients;
