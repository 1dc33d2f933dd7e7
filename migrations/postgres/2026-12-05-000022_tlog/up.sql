-- The transparency log (C2SP tlog-tiles). An entry is written in the same transaction as the
-- event it records (`leaf_index` NULL); the integrator numbers entries in batches and stores
-- the hashes of the complete subtrees they close. No holder data: the kind, the subject
-- (licence identifier or trust-list version), the SHA-256 of the seal or list, the time.
CREATE TABLE tlog_entries (
    id BIGSERIAL PRIMARY KEY,
    leaf_index BIGINT UNIQUE,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    logged_at TIMESTAMP NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX tlog_entries_subject ON tlog_entries (subject, leaf_index);

-- Hashes of complete subtrees: level 0 are leaf hashes.
CREATE TABLE tlog_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The integrated size (one row; integrators serialise on it).
CREATE TABLE tlog_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO tlog_state (id, size) VALUES (1, 0);

-- Published checkpoints: the signed note with the cosignatures gathered.
CREATE TABLE tlog_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    note TEXT NOT NULL,
    cosignatures INTEGER NOT NULL,
    published_at TIMESTAMP NOT NULL
);
