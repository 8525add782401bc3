-- TOTP second factor (RFC 6238). The secret is sealed (AES-256-GCM, sealing_keys), never
-- stored in the clear. Until `confirmed_at` is set the user has not proven a working
-- authenticator and the factor is off.
CREATE TABLE totp_credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    -- The last time step whose code was accepted: a code is good once.
    last_step BIGINT
);

-- Single-use recovery codes, stored as SHA-256 only.
CREATE TABLE recovery_codes (
    code_hash BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
