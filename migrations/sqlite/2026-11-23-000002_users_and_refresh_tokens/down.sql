DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE user_roles;
DROP TABLE users;
DROP TABLE roles;
