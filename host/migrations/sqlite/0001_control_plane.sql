-- Control plane: connectors, connections, secrets, API keys, audit.
-- Times are Unix milliseconds; ids are text (UUIDs, or `name@version`).

CREATE TABLE connectors (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    spec        TEXT NOT NULL,
    imports     TEXT NOT NULL,
    size        INTEGER NOT NULL,
    component   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
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
    checked_at    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    FOREIGN KEY (connector, version) REFERENCES connectors (name, version)
);

CREATE TABLE connection_secrets (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token         TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (connection_id, name)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at  INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    key_id  TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
