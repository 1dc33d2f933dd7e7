-- A claim takes a hall's oldest queued jobs in (created_at, id) order: an index in exactly
-- that order lets the database read the first few entries instead of sorting every queued
-- job of the hall on each claim (seen as most of PostgreSQL's time under load).
CREATE INDEX print_jobs_claim_order ON print_jobs (hall, state, created_at, id);
DROP INDEX print_jobs_hall_state;
