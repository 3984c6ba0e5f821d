-- What a run's attempt cost (JSON, `model::resources::RunResources`):
-- calls and their time, time inside WebAssembly, peak linear memory, HTTP
-- requests and bytes per origin, log volume; written when it ends.
ALTER TABLE runs ADD COLUMN resources TEXT;
