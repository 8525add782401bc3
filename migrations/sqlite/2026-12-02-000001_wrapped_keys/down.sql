-- Wrapped values stay wrapped: unwrap them (or start from a fresh database) before
-- running an older gatehouse on this one.
ALTER TABLE sealing_keys DROP COLUMN wrapped_by;
ALTER TABLE signing_keys DROP COLUMN wrapped_by;
