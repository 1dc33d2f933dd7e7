CREATE INDEX print_jobs_hall_state ON print_jobs (hall, state, created_at);
DROP INDEX print_jobs_claim_order;
