-- Sync engine: syncs, runs (the job queue), per-run stream progress,
-- committed cursors, run logs and rejections, the built-in records store.

CREATE TABLE syncs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    source_id       TEXT NOT NULL REFERENCES connections (id),
    streams         TEXT NOT NULL,
    mode            TEXT NOT NULL,
    mapper_id       TEXT REFERENCES connections (id),
    destination_id  TEXT REFERENCES connections (id),
    schedule        TEXT,
    enabled         BIGINT NOT NULL,
    error_threshold BIGINT NOT NULL,
    retry           TEXT NOT NULL,
    schemas         TEXT NOT NULL,
    next_due_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The scheduler's question: which enabled syncs are due?
CREATE INDEX syncs_due ON syncs (next_due_at) WHERE enabled = 1;

CREATE TABLE sync_cursors (
    sync_id    TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    cursor     TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sync_id, stream)
);

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    sync_id          TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    trigger_kind     TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt          BIGINT NOT NULL,
    due_at           BIGINT,
    run_after        BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    lease_owner      TEXT,
    lease_until      BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    error_kind       TEXT,
    error            TEXT,
    pages            BIGINT NOT NULL DEFAULT 0,
    fetched          BIGINT NOT NULL DEFAULT 0,
    mapped           BIGINT NOT NULL DEFAULT 0,
    pushed           BIGINT NOT NULL DEFAULT 0,
    created          BIGINT NOT NULL DEFAULT 0,
    updated          BIGINT NOT NULL DEFAULT 0,
    deleted          BIGINT NOT NULL DEFAULT 0,
    unchanged        BIGINT NOT NULL DEFAULT 0,
    rejected         BIGINT NOT NULL DEFAULT 0,
    http_requests    BIGINT NOT NULL DEFAULT 0,
    bytes            BIGINT NOT NULL DEFAULT 0,
    logs_dropped     BIGINT NOT NULL DEFAULT 0
);

-- At most one running run per sync, on every node.
CREATE UNIQUE INDEX runs_one_running ON runs (sync_id) WHERE status = 'running';
-- Each due time of a schedule is enqueued once, even with several schedulers.
CREATE UNIQUE INDEX runs_schedule_once ON runs (sync_id, due_at) WHERE trigger_kind = 'schedule';
CREATE INDEX runs_queue ON runs (status, run_after, created_at);
CREATE INDEX runs_by_sync ON runs (sync_id, created_at);

CREATE TABLE run_streams (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    cursor     TEXT,
    done       BIGINT NOT NULL,
    PRIMARY KEY (run_id, stream)
);

CREATE TABLE run_logs (
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    level   TEXT NOT NULL,
    source  TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_rejections (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    stream       TEXT NOT NULL,
    record_index BIGINT NOT NULL,
    record_key   TEXT,
    field        TEXT,
    message      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE records (
    sync_id    TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    record_key TEXT NOT NULL,
    hash       TEXT NOT NULL,
    data       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sync_id, stream, record_key)
);
