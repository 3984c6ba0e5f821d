-- A publisher's detached signature over a connector (the `.sig` file's
-- text, `wharf-signature/1`), kept so the server can re-check it against
-- the publishers it trusts now; NULL for an unsigned upload.
ALTER TABLE connectors ADD COLUMN signature TEXT;
