DROP INDEX print_jobs_lease_expiry;
DROP TABLE agent_reports;
