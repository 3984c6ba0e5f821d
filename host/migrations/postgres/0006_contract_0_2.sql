-- Contract 0.2: what the host keeps for connectors.

-- Non-secret facts of an OAuth2 grant (the spec's `info_fields` of the
-- token response and the callback), as a JSON object.
ALTER TABLE oauth_tokens ADD COLUMN info TEXT;

-- `state.get/set`: small values a connector keeps per connection (sealed).
CREATE TABLE connection_state (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    expires_at    BIGINT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, key)
);

-- A login session the host keeps per connection (sealed token or cookies),
-- with a lease so one node logs in at a time.
CREATE TABLE login_sessions (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    token         TEXT,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT
);

-- Rate budgets: requests used per connection, host and window (`window`,
-- `day`), and the slots of requests in flight (for `concurrency`), shared
-- by every node.
CREATE TABLE rate_usage (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    host          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    used          BIGINT NOT NULL,
    PRIMARY KEY (connection_id, host, kind)
);
CREATE TABLE rate_slots (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    host          TEXT NOT NULL,
    slot          BIGINT NOT NULL,
    holder        TEXT NOT NULL,
    until         BIGINT NOT NULL,
    PRIMARY KEY (connection_id, host, slot)
);

-- Files handed to a run (uploaded through the API), read as blobs.
CREATE TABLE run_inputs (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT,
    bytes        BYTEA NOT NULL,
    PRIMARY KEY (run_id, name)
);
