DROP TABLE notifications;
DROP INDEX print_jobs_tracking;
ALTER TABLE print_jobs DROP COLUMN mobile;
ALTER TABLE print_jobs DROP COLUMN tracking_token_hash;
