DROP INDEX user_roles_role;
DROP INDEX authorization_codes_user;
DROP INDEX refresh_families_user;
DROP INDEX login_sessions_user;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE users DROP COLUMN disabled_at;
