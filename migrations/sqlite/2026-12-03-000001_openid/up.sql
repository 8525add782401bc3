-- OpenID Connect (Core 1.0). Who a user is, for the id_token and userinfo: both optional.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN name TEXT;
-- How the session's login was made, as `amr` values separated by spaces (`pwd`, `pwd otp`).
-- Sessions from before were password logins.
ALTER TABLE login_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- What an id_token needs about the login, kept with a code granted `openid` (JSON: the
-- login's time and methods, the session, the nonce and the identity claims), and with the
-- refresh family that code starts (the same without the nonce), for the id_token of a refresh.
ALTER TABLE authorization_codes ADD COLUMN openid TEXT;
ALTER TABLE refresh_families ADD COLUMN openid TEXT;
-- RP-Initiated Logout 1.0: where a client may send the browser after signing out (separated
-- by spaces, and matched exactly, like redirect URIs).
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
