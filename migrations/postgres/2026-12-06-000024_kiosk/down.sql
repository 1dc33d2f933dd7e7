DELETE FROM print_jobs WHERE state = 'held';
DROP INDEX print_jobs_open_per_licence;
CREATE UNIQUE INDEX print_jobs_open_per_licence ON print_jobs (licence_id)
    WHERE state IN ('queued','leased','printed','failed','needs_reconciliation');
ALTER TABLE print_jobs DROP COLUMN kiosk_id;
ALTER TABLE print_jobs DROP COLUMN pickup;
ALTER TABLE print_jobs DROP CONSTRAINT print_jobs_state_check;
ALTER TABLE print_jobs ADD CONSTRAINT print_jobs_state_check CHECK (state IN ('queued','leased','printed','collected','cancelled','failed','needs_reconciliation'));
ALTER TABLE agent_tokens DROP COLUMN kind;
