-- The hall agent protocol (DESIGN §6). Reports are idempotent by (job, agent sequence
-- number): the first answer is stored and replayed for a retry with the same body.
CREATE TABLE agent_reports (
    job_id TEXT NOT NULL REFERENCES print_jobs (id),
    seq BIGINT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, seq)
);
-- The lease sweeper looks only at leased jobs, by expiry.
CREATE INDEX print_jobs_lease_expiry ON print_jobs (lease_expires_at) WHERE state = 'leased';
