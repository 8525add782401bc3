-- Signing keys' private keys and sealing keys are wrapped (AES-256-GCM) under a
-- key-encryption key kept outside the database. `wrapped_by` names that key by its
-- fingerprint; NULL marks a value stored in the clear by an older gatehouse, which wraps
-- it on its next start.
ALTER TABLE signing_keys ADD COLUMN wrapped_by TEXT;
ALTER TABLE sealing_keys ADD COLUMN wrapped_by TEXT;
