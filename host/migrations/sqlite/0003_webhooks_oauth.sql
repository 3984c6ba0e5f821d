-- Incoming webhooks (endpoint tokens, deliveries), outgoing webhooks
-- (endpoints and a durable delivery queue), OAuth2 states and tokens.

CREATE TABLE connection_hooks (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE hook_deliveries (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    delivery_id   TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT,
    PRIMARY KEY (connection_id, delivery_id)
);

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    networks        TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE webhook_messages (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);

CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);

CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    verifier      TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
);

CREATE TABLE oauth_tokens (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    access_token  TEXT NOT NULL,
    refresh_token TEXT,
    expires_at    INTEGER,
    lease_owner   TEXT,
    lease_until   INTEGER,
    refreshed_at  INTEGER NOT NULL,
    refreshes     INTEGER NOT NULL
);
