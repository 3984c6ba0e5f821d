-- At most one manual run waits in the queue per sync: "run now" while one
-- is queued returns that run instead of queueing another. Runs queued twice
-- before this migration are merged into the oldest (by creation time, then
-- id): the others are cancelled.
UPDATE runs SET status = 'cancelled', error_kind = 'cancelled', finished_at = created_at,
    error = 'merged into an earlier queued manual run of the same sync'
WHERE status = 'queued' AND trigger_kind = 'manual'
  AND EXISTS (
      SELECT 1 FROM runs AS older
      WHERE older.sync_id = runs.sync_id
        AND older.status = 'queued' AND older.trigger_kind = 'manual'
        AND (older.created_at < runs.created_at
             OR (older.created_at = runs.created_at AND older.id < runs.id))
  );

CREATE UNIQUE INDEX runs_one_queued_manual ON runs (sync_id)
    WHERE status = 'queued' AND trigger_kind = 'manual';
