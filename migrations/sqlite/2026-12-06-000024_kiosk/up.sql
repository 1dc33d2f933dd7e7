-- Self-service kiosks (issue 24): agent tokens get a kind (counter or kiosk); a print job a
-- pickup mode and, for kiosk jobs, the state 'held' until the holder releases it at a kiosk.
-- SQLite cannot change a CHECK constraint in place: print_jobs is rebuilt (the documented
-- procedure: foreign keys off, outside diesel's transaction; see metadata.toml). A column
-- another migration adds to print_jobs before this one must be added to this copy too.
PRAGMA foreign_keys = OFF;
BEGIN;
ALTER TABLE agent_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'counter' CHECK (kind IN ('counter','kiosk'));
CREATE TABLE print_jobs_new (
    id TEXT PRIMARY KEY NOT NULL,
    licence_id TEXT NOT NULL REFERENCES licences (id),
    hall TEXT NOT NULL REFERENCES halls (code),
    issuing_hall TEXT NOT NULL REFERENCES halls (code),
    state TEXT NOT NULL CHECK (state IN ('queued','held','leased','printed','collected','cancelled','failed','needs_reconciliation')),
    copies TEXT NOT NULL,
    document BLOB NOT NULL,
    document_sha256 TEXT NOT NULL,
    pickup_code_hash TEXT NOT NULL,
    pickup_failures INTEGER NOT NULL DEFAULT 0,
    pickup_locked BOOLEAN NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_token_hash TEXT,
    lease_expires_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    printed_at TIMESTAMP,
    collected_at TIMESTAMP,
    -- counter: handed over by staff; kiosk: held until the holder releases it at a kiosk.
    pickup TEXT NOT NULL DEFAULT 'counter' CHECK (pickup IN ('counter','kiosk')),
    -- The kiosk (its agent token) that released the job.
    kiosk_id BIGINT REFERENCES agent_tokens (id)
);
INSERT INTO print_jobs_new (id, licence_id, hall, issuing_hall, state, copies, document, document_sha256, pickup_code_hash, pickup_failures, pickup_locked, attempts, lease_token_hash, lease_expires_at, created_by, created_at, updated_at, printed_at, collected_at)
    SELECT id, licence_id, hall, issuing_hall, state, copies, document, document_sha256, pickup_code_hash, pickup_failures, pickup_locked, attempts, lease_token_hash, lease_expires_at, created_by, created_at, updated_at, printed_at, collected_at FROM print_jobs;
DROP TABLE print_jobs;
ALTER TABLE print_jobs_new RENAME TO print_jobs;
CREATE INDEX print_jobs_issuing_hall ON print_jobs (issuing_hall, created_at);
CREATE INDEX print_jobs_licence ON print_jobs (licence_id);
CREATE INDEX print_jobs_claim_order ON print_jobs (hall, state, created_at, id);
CREATE INDEX print_jobs_lease_expiry ON print_jobs (lease_expires_at) WHERE state = 'leased';
-- At most one open job per licence (the list is JobState::OPEN).
CREATE UNIQUE INDEX print_jobs_open_per_licence ON print_jobs (licence_id)
    WHERE state IN ('queued','held','leased','printed','failed','needs_reconciliation');
COMMIT;
PRAGMA foreign_keys = ON;
