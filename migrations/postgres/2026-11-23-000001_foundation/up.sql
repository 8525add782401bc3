-- Registered OAuth clients. Times are Unix seconds (BIGINT) so one schema serves both backends.
CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 of the client secret; NULL for public clients.
    secret_hash BYTEA,
    -- Space-separated lists: URIs, grant types and scope tokens never contain spaces.
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- ES256 signing keys shared by every instance on this database.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    -- PKCS#8 DER private key and the SEC1 uncompressed public point.
    private_key BYTEA NOT NULL,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when a newer key replaced this one; the key stays in the JWKS until publish_until.
    retired_at BIGINT,
    publish_until BIGINT
);
CREATE INDEX signing_keys_active ON signing_keys (retired_at, created_at);
