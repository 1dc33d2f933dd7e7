-- Staff account lifecycle, login throttling per (username, client address), idle sessions and
-- two-factor sign-in (TOTP).
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP;

ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE sessions ADD COLUMN client_ip TEXT NOT NULL DEFAULT '';
UPDATE sessions SET last_seen_at = created_at;

-- One row per throttled key: 'pair <ip> <username>', 'ip <ip>', 'account <username>'.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    username TEXT,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    prev_at TIMESTAMP
);
CREATE INDEX login_throttle_username ON login_throttle (username);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
