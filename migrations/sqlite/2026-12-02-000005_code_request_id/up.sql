-- The pending authorization each code was issued for (oauth/pending.rs): a sealed request
-- buys at most one code, however often its form is posted. Older codes have none.
ALTER TABLE authorization_codes ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX authorization_codes_request ON authorization_codes (request_id);
-- The user's role names when the code was issued (a JSON array), for the access token it
-- buys, so the exchange need not read them again. Older codes have none: read at exchange.
ALTER TABLE authorization_codes ADD COLUMN roles TEXT;
