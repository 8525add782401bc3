-- Administration (issue 13). A disabled user keeps their record but cannot sign in; set
-- when an admin disables them, cleared when enabled again.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- RFC 7592: the SHA-256 of the registration access token of a client registered over
-- HTTP (the token itself is shown once, in the registration response).
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
-- The token_endpoint_auth_method a client registered over HTTP asked for (RFC 7591 §2);
-- NULL for one made by the CLI.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT;
-- What the admin surfaces look up by user and by role.
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX refresh_families_user ON refresh_families (user_id, client_id);
CREATE INDEX authorization_codes_user ON authorization_codes (user_id);
CREATE INDEX user_roles_role ON user_roles (role);
