-- Limits an administrator gave a connector at upload (JSON: memory_mib,
-- call_timeout_secs), within the node's maxima; NULL keeps the defaults.
ALTER TABLE connectors ADD COLUMN limits TEXT;
