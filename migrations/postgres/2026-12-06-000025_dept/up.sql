-- Department checks (部门核验), holder share codes and form prefill (issue 25).

-- API clients of other government departments: bearer tokens stored as SHA-256 hashes,
-- revocable; grants are the certificate types and domains the client may see.
CREATE TABLE dept_clients (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    granted_types TEXT NOT NULL,
    granted_domains TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TIMESTAMP
);

-- Every department access, granted or refused. Append-only.
CREATE TABLE dept_access_log (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES dept_clients (id),
    at TIMESTAMP NOT NULL,
    route TEXT NOT NULL,
    purpose TEXT NOT NULL,
    holder_code TEXT,
    requested_types TEXT NOT NULL,
    licences TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX dept_access_log_holder ON dept_access_log (holder_code, at);
CREATE INDEX dept_access_log_at ON dept_access_log (at);

-- Holder share codes: the code is stored as an HMAC under the server secret only.
CREATE TABLE shares (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    holder_code TEXT NOT NULL,
    licence_ids TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    hall TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT
);
CREATE INDEX shares_holder ON shares (holder_code);

-- Every lookup that reached a share (shown, or refused: wrong holder, expired, revoked).
CREATE TABLE share_lookups (
    id BIGSERIAL PRIMARY KEY,
    share_id TEXT NOT NULL REFERENCES shares (id),
    at TIMESTAMP NOT NULL,
    client_ip TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX share_lookups_share ON share_lookups (share_id, at);

-- Department queries and prefill read a holder's licences.
CREATE INDEX licences_holder_code ON licences (holder_code);
