-- Authorization codes (RFC 6749 §4.1.2): only the SHA-256 of each code is stored.
CREATE TABLE authorization_codes (
    code_hash BYTEA PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    -- The scope granted: requested, within the client's registration and the user's roles.
    scope TEXT NOT NULL,
    -- oxide-auth's encoding of the PKCE challenge and its method, when one was sent.
    pkce TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set by the one exchange that wins; with what it issued, so a replay can revoke them.
    used_at BIGINT,
    family_id TEXT,
    access_jti TEXT,
    access_expires_at BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- What each user approved for each client; asking for more asks again.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Logged-in browser sessions. The cookie names one; logging out deletes it.
CREATE TABLE login_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_sessions_expiry ON login_sessions (expires_at);

-- Keys that encrypt and authenticate session cookies and TOTP secrets, shared by every
-- instance and never deleted.
CREATE TABLE sealing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
