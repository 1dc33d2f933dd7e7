-- Sealed licences. One row per version; a change inserts a new version and marks the old
-- one superseded. The COSE seal is stored exactly as signed.
CREATE TABLE licences (
    id TEXT PRIMARY KEY NOT NULL,
    type_code TEXT NOT NULL,
    issuer_code TEXT NOT NULL,
    issuing_hall TEXT NOT NULL REFERENCES halls (code),
    serial BIGINT NOT NULL,
    version INTEGER NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    licence_no TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    holder_code TEXT NOT NULL,
    fields TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE,
    status TEXT NOT NULL CHECK (status IN ('valid','suspended','rescinded','cancelled','revoked','superseded')),
    status_reason TEXT,
    status_changed_at TIMESTAMP,
    cose BLOB NOT NULL,
    signer_kid TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    issued_by TEXT NOT NULL,
    previous_id TEXT REFERENCES licences (id),
    superseded_by TEXT REFERENCES licences (id),
    UNIQUE (type_code, issuer_code, serial, version)
);
CREATE INDEX licences_serial ON licences (type_code, issuer_code, serial);
CREATE INDEX licences_hall ON licences (issuing_hall, issued_at);

-- The next serial per type and issuing authority, taken inside the issuing transaction so a
-- failed issue leaves no gap.
CREATE TABLE licence_sequences (
    type_code TEXT NOT NULL,
    issuer_code TEXT NOT NULL,
    last_serial BIGINT NOT NULL,
    PRIMARY KEY (type_code, issuer_code)
);

-- Idempotency-Key: the first answer to a (user, key), replayed for the same body.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
