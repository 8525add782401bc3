-- What happened, for administrators: logins, reuse and replay detection, admin changes.
-- Never a secret: no password, token, code or client secret is ever written here.
CREATE TABLE security_events (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- success or failure
    outcome TEXT NOT NULL,
    -- Who acted: a user id, the username typed at a failed login, or "admin" for the CLI.
    actor TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_actor ON security_events (actor, at);
