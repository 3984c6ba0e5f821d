-- The failed calls of a failed run, one cassette per side of the sync
-- (source, mapper, destination), for `wharf dev replay` to play back.
-- Secrets are redacted before a cassette is written.
CREATE TABLE run_cassettes (
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    side     TEXT NOT NULL,
    cassette TEXT NOT NULL,
    PRIMARY KEY (run_id, side)
);
