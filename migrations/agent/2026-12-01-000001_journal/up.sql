-- The hall agent's local journal (a SQLite file in its state folder; never the server's
-- database). Every step is written here before it acts, so a restart knows what may already
-- be on paper and which reports the server has not confirmed yet.

-- One row per claimed job, from its claim until the server confirms the report.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    licence_id TEXT NOT NULL,
    type_code TEXT NOT NULL,
    -- JSON array of copy names, one page each.
    copies TEXT NOT NULL,
    qr_text TEXT NOT NULL,
    lease_token TEXT NOT NULL,
    lease_expires_at TEXT NOT NULL,
    document_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed','downloaded','printing','printed','failed','reported','confirmed','abandoned','rejected')),
    -- printed | not_printed | unknown, once known (or known to be unknowable).
    outcome TEXT CHECK (outcome IN ('printed','not_printed','unknown')),
    -- The exact report (JSON) and its sequence number: every retry sends the same bytes.
    report_seq BIGINT,
    report_body TEXT,
    report_attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state);

-- The tray: numbered blank security sheets in the order they are fed to the printer.
CREATE TABLE sheets (
    serial TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('blank','reserved','used','in_doubt','voided')),
    job_id TEXT REFERENCES jobs (id),
    -- Page index within the job (0-based) while reserved or used.
    page INTEGER,
    note TEXT
);
CREATE INDEX sheets_state_position ON sheets (state, position);

-- Counters: the report sequence number.
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);

-- Every step, append-only: what the agent did and when, for the hall's own records.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TEXT NOT NULL,
    job_id TEXT,
    step TEXT NOT NULL,
    detail TEXT NOT NULL
);
