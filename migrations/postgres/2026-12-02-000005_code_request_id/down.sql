ALTER TABLE authorization_codes DROP COLUMN roles;
DROP INDEX authorization_codes_request;
ALTER TABLE authorization_codes DROP COLUMN request_id;
