ALTER TABLE consents DROP COLUMN grant_id;
DROP INDEX spent_codes_expiry;
DROP TABLE spent_codes;
