-- Failed attempts per account, per IP address and per client id, shared by every instance.
-- A key is blocked until `blocked_until` once its failures pass the configured threshold.
CREATE TABLE throttles (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT
);
CREATE INDEX throttles_last_failure ON throttles (last_failure_at);
