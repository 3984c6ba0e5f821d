-- Console sign-ins: a session is an API key presented once; the browser
-- holds a random id (stored here only as its hash) in an HttpOnly cookie,
-- and every form carries the session's CSRF token. Revoking the key ends
-- its sessions at once (they are checked against api_keys on each request).
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- A one-time message for the next page (a key or secret shown once),
    -- sealed with the vault like every other secret.
    flash TEXT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
