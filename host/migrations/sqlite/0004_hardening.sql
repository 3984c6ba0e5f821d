-- Fencing: every claim of a run takes the next lease generation, and every
-- write of an execution names the generation it holds, so an execution that
-- lost its lease (and whose run was claimed again) commits nothing.
ALTER TABLE runs ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;

-- Per-sync run limits (JSON; missing fields take the server's defaults) and
-- the number of records the sync keeps in the records store, for its quota.
ALTER TABLE syncs ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE syncs ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
UPDATE syncs SET record_count = (SELECT COUNT(*) FROM records WHERE records.sync_id = syncs.id);
