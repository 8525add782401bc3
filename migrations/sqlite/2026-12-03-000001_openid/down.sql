ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE refresh_families DROP COLUMN openid;
ALTER TABLE authorization_codes DROP COLUMN openid;
ALTER TABLE login_sessions DROP COLUMN amr;
ALTER TABLE users DROP COLUMN name;
ALTER TABLE users DROP COLUMN email;
