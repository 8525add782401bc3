-- Signing keys on a schedule (issue 14, item 4). A key signs from `signs_from` until
-- `retired_at`; a scheduled next key is inserted ahead, published at once and signing only
-- once every cached JWKS holds it. NULL means from `created_at`: the keys made before this
-- migration, and those an instance of the previous version makes during a rolling upgrade
-- (its `keys rotate` signs at once, as it always did).
ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT;
