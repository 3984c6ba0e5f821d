-- Single sign-on (OpenID Connect). A console session now stands for an API
-- key or for a person the identity provider vouched for (subject, email,
-- role at sign-in, and the issuer, so a session outlives no change of
-- provider), so key_id may be empty; sessions are short-lived, so
-- the table is made anew (everyone signs in again once).
DROP TABLE console_sessions;
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    key_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    subject TEXT,
    email TEXT,
    role TEXT,
    issuer TEXT,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    flash TEXT,
    CHECK ((key_id IS NULL) <> (subject IS NULL))
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Sign-ins begun and not finished: the hash of the state sent to the
-- provider (single use: taken by deleting it), the hash of the cookie that
-- ties it to the browser that began it, the nonce the ID token must carry,
-- the PKCE verifier (sealed with the vault) and where to go afterwards.
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    next TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

-- Who acted, when it was a person: the subject and email of the ID token.
ALTER TABLE audit_log ADD COLUMN subject TEXT;
ALTER TABLE audit_log ADD COLUMN email TEXT;

-- Who began an OAuth2 authorization of a connection, so the provider's
-- callback (which carries no credential) is audited in their name.
ALTER TABLE oauth_states ADD COLUMN key_id TEXT;
ALTER TABLE oauth_states ADD COLUMN subject TEXT;
ALTER TABLE oauth_states ADD COLUMN email TEXT;
