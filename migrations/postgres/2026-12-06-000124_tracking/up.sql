-- The holder's tracking page and notifications (issue 24): a random tracking token per job,
-- stored hashed (the token itself is shown once, in the slip's QR code); an optional mobile
-- number; and the outbox of text messages to the holder, delivered by a background task.
ALTER TABLE print_jobs ADD COLUMN tracking_token_hash TEXT;
ALTER TABLE print_jobs ADD COLUMN mobile TEXT;
CREATE UNIQUE INDEX print_jobs_tracking ON print_jobs (tracking_token_hash);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES print_jobs (id),
    kind TEXT NOT NULL CHECK (kind IN ('ready','reminder')),
    mobile TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','sent','failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
-- One message of each kind per job, whatever the number of processes writing it.
CREATE UNIQUE INDEX notifications_once ON notifications (job_id, kind);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
