-- Control plane: connectors, connections, secrets, API keys, audit.
-- Times are Unix milliseconds; ids are text (UUIDs, or `name@version`).

CREATE TABLE connectors (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    spec        TEXT NOT NULL,
    imports     TEXT NOT NULL,
    size        BIGINT NOT NULL,
    component   BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT,
    PRIMARY KEY (name, version)
);

CREATE TABLE connections (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    connector     TEXT NOT NULL,
    version       TEXT NOT NULL,
    config        TEXT NOT NULL,
    grants        TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    checked_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    FOREIGN KEY (connector, version) REFERENCES connectors (name, version)
);

CREATE TABLE connection_secrets (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token         TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, name)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at  BIGINT
);

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    key_id  TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
