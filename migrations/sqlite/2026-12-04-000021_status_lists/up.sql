-- Token Status Lists (draft-ietf-oauth-status-list): every licence holds a random index in
-- one list. `revision` grows in the same transaction as any status change of a licence in
-- the list, so every server process sees with one small query that its copy is stale.
CREATE TABLE status_lists (
    id BIGINT PRIMARY KEY NOT NULL,
    capacity BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);

-- One row per licence: its list and random index. `legacy` marks licences sealed before
-- status lists (their seal carries no index; the signed status index maps them).
CREATE TABLE status_list_entries (
    list_id BIGINT NOT NULL REFERENCES status_lists (id),
    idx BIGINT NOT NULL,
    licence_id TEXT NOT NULL UNIQUE,
    legacy BOOLEAN NOT NULL,
    PRIMARY KEY (list_id, idx)
);

-- The signed trust list's sequence: it grows when the published content changes.
CREATE TABLE trust_list_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    sequence BIGINT NOT NULL,
    content_sha256 TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);

-- The first list exists before the first issue, so concurrent first issues do not race to
-- open it.
INSERT INTO status_lists (id, capacity, revision, changed_at) VALUES (1, 1048576, 0, CURRENT_TIMESTAMP);
