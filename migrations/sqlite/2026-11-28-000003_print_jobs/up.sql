-- Print jobs (DESIGN §6): one licence, its copies, the print-ready document rendered once
-- (with its SHA-256), the pickup code's hash, and the lease columns the agent protocol uses.
CREATE TABLE print_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    licence_id TEXT NOT NULL REFERENCES licences (id),
    hall TEXT NOT NULL REFERENCES halls (code),
    issuing_hall TEXT NOT NULL REFERENCES halls (code),
    state TEXT NOT NULL CHECK (state IN ('queued','leased','printed','collected','cancelled','failed','needs_reconciliation')),
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
    collected_at TIMESTAMP
);
-- A hall's queue (the agent's claim) and staff lists.
CREATE INDEX print_jobs_hall_state ON print_jobs (hall, state, created_at);
CREATE INDEX print_jobs_issuing_hall ON print_jobs (issuing_hall, created_at);
CREATE INDEX print_jobs_licence ON print_jobs (licence_id);
-- At most one open job per licence (the list is JobState::OPEN).
CREATE UNIQUE INDEX print_jobs_open_per_licence ON print_jobs (licence_id)
    WHERE state IN ('queued','leased','printed','failed','needs_reconciliation');

-- Numbered blank security stock registered per hall. The serial is split into its letter
-- prefix, digit width and number so overlaps and membership are range queries.
CREATE TABLE stock_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hall TEXT NOT NULL REFERENCES halls (code),
    first_serial TEXT NOT NULL,
    prefix TEXT NOT NULL,
    width INTEGER NOT NULL,
    first_number BIGINT NOT NULL,
    count INTEGER NOT NULL CHECK (count BETWEEN 1 AND 100000),
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX stock_batches_range ON stock_batches (prefix, width, first_number);
CREATE INDEX stock_batches_hall ON stock_batches (hall);

-- Every used sheet: printed for a job page, or voided with a reason. A serial is used once.
CREATE TABLE sheets (
    serial TEXT PRIMARY KEY NOT NULL,
    hall TEXT NOT NULL REFERENCES halls (code),
    batch_id BIGINT NOT NULL REFERENCES stock_batches (id),
    state TEXT NOT NULL CHECK (state IN ('printed','voided')),
    job_id TEXT REFERENCES print_jobs (id),
    copy TEXT CHECK (copy IN ('original','duplicate')),
    reason TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sheets_hall_state ON sheets (hall, state);
CREATE INDEX sheets_job ON sheets (job_id);
