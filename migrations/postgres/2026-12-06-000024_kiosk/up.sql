-- Self-service kiosks (issue 24): agent tokens get a kind (counter or kiosk); a print job a
-- pickup mode and, for kiosk jobs, the state 'held' until the holder releases it at a kiosk.
ALTER TABLE agent_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'counter' CHECK (kind IN ('counter','kiosk'));
ALTER TABLE print_jobs DROP CONSTRAINT print_jobs_state_check;
ALTER TABLE print_jobs ADD CONSTRAINT print_jobs_state_check CHECK (state IN ('queued','held','leased','printed','collected','cancelled','failed','needs_reconciliation'));
-- counter: handed over by staff; kiosk: held until the holder releases it at a kiosk.
ALTER TABLE print_jobs ADD COLUMN pickup TEXT NOT NULL DEFAULT 'counter' CHECK (pickup IN ('counter','kiosk'));
-- The kiosk (its agent token) that released the job.
ALTER TABLE print_jobs ADD COLUMN kiosk_id BIGINT REFERENCES agent_tokens (id);
DROP INDEX print_jobs_open_per_licence;
CREATE UNIQUE INDEX print_jobs_open_per_licence ON print_jobs (licence_id)
    WHERE state IN ('queued','held','leased','printed','failed','needs_reconciliation');
