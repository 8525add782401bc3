-- Sealed authorization codes (issue #11, item 3). A code is now a value sealed with the
-- sealing keys (oauth/code.rs), issued at /authorize with no write. Its single use is this
-- table: the exchange at /token inserts one row, keyed by the pending authorization the code
-- answered, as the first statement of its transaction.
CREATE TABLE spent_codes (
    -- The pending authorization's id: one consent answer buys one exchange, however many
    -- codes were sealed for it.
    request_id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    spent_at BIGINT NOT NULL,
    -- Until when another code of the same request could still be presented; purged after.
    expires_at BIGINT NOT NULL,
    -- What the exchange issued, so a replay revokes exactly that (RFC 6749 §4.1.2).
    family_id TEXT,
    access_jti TEXT,
    access_expires_at BIGINT
);
CREATE INDEX spent_codes_expiry ON spent_codes (expires_at);

-- The identity of a consent, named by the codes issued under it: a fresh random value when
-- a consent is first given (again, after a revocation) and whenever the user's access is
-- ended, so that an unexchanged code stops working with it. Rows written by an instance of
-- the previous version during a rolling upgrade get '' and work as one identity.
ALTER TABLE consents ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
UPDATE consents SET grant_id = lower(hex(randomblob(16)));

-- authorization_codes is no longer written, but it is not dropped here: instances of the
-- previous version may still be running during a rolling upgrade and insert into it. The
-- purge keeps emptying it; a later migration drops it.
