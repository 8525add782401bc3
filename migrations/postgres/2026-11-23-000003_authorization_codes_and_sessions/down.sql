DROP TABLE sealing_keys;
DROP TABLE login_sessions;
DROP TABLE consents;
DROP TABLE authorization_codes;
