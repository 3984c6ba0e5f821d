-- An event subscription may post through a destination connection (Slack,
-- Teams, Discord) instead of to a URL; `template` is the message's text,
-- filled from the event. The sender treats a deleted connection as a
-- failed delivery, so no foreign key ties the two.
ALTER TABLE webhooks ADD COLUMN connection_id TEXT;
ALTER TABLE webhooks ADD COLUMN template TEXT;
