-- At most one manual run waits in the queue per sync: "run now" while one
-- is queued returns that run instead of queueing another. Runs queued twice
-- before this migration are merged into the oldest.
UPDATE runs SET status = 'cancelled', error_kind = 'cancelled', finished_at = created_at,
    error = 'merged into an earlier queued manual run of the same sync'
WHERE status = 'queued' AND trigger_kind = 'manual'
  AND id NOT IN (
      SELECT id FROM (
          SELECT MIN(id) AS id FROM runs
          WHERE status = 'queued' AND trigger_kind = 'manual'
          GROUP BY sync_id
      ) AS keep
  );

CREATE UNIQUE INDEX runs_one_queued_manual ON runs (sync_id)
    WHERE status = 'queued' AND trigger_kind = 'manual';
